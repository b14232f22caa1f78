#!/usr/bin/env bash
# End-to-end comparison of bigmodel's runtime against ONNX Runtime (onnxruntime-node), one thread each, pinned to
# one CPU. Writes a markdown report (tables + notes + a profile) to stdout or to --output FILE.
#
#   benchmarks/ort/bench_e2e.sh [--bigmodel-opt PATH] [--bench-dir DIR] [--runs N] [--warmup N]
#                               [--output FILE.md] [--opset13] [--attention int8|fp32]
#
# --attention int8: our int8-dynamic / int8-static files run the fused attention's products in int8 too
# (bigmodel-opt optimize --attention int8; default fp32, as the CLI's).
# Environment: BIGMODEL_OPT (path to bigmodel-opt, default build/release/examples/bigmodel-opt/bigmodel-opt),
# BENCH_DIR (default /tmp/bench), RUNS (default 20), WARMUP (default 3), CPU (core for taskset, default 0).
# Options override the environment. Progress goes to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CMDLINE="$(printf '%q ' "$0" "$@")"
CMDLINE="${CMDLINE% }"
if [[ -n "${BIGMODEL_OPT:-}" ]]; then CMDLINE="BIGMODEL_OPT=$(printf '%q' "$BIGMODEL_OPT") $CMDLINE"; fi
if [[ -n "${CPU:-}" ]]; then CMDLINE="CPU=$CPU $CMDLINE"; fi

BIGMODEL_OPT="${BIGMODEL_OPT:-build/release/examples/bigmodel-opt/bigmodel-opt}"
BENCH_DIR="${BENCH_DIR:-/tmp/bench}"
RUNS="${RUNS:-20}"
WARMUP="${WARMUP:-3}"
CPU="${CPU:-0}"
OUTPUT=""
OPSETS=(17)
ATTENTION=fp32
PY=/usr/bin/python3

usage() {
  sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}
die() { echo "bench_e2e.sh: error: $*" >&2; exit 1; }
log() { echo "[bench_e2e $(date -u +%H:%M:%S)] $*" >&2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --bigmodel-opt) BIGMODEL_OPT="${2:?--bigmodel-opt needs a value}"; shift 2 ;;
    --bench-dir) BENCH_DIR="${2:?--bench-dir needs a value}"; shift 2 ;;
    --runs) RUNS="${2:?--runs needs a value}"; shift 2 ;;
    --warmup) WARMUP="${2:?--warmup needs a value}"; shift 2 ;;
    -o|--output) OUTPUT="${2:?--output needs a value}"; shift 2 ;;
    --opset13) OPSETS=(17 13); shift ;;
    --attention) ATTENTION="${2:?--attention needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer (got '$RUNS')"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup must be a non-negative integer (got '$WARMUP')"
[[ "$ATTENTION" == int8 || "$ATTENTION" == fp32 ]] || die "--attention must be int8 or fp32 (got '$ATTENTION')"

# ---- tools -------------------------------------------------------------------------------------------------------
if [[ ! -x "$BIGMODEL_OPT" && "$BIGMODEL_OPT" != /* && -x "$ROOT/$BIGMODEL_OPT" ]]; then
  BIGMODEL_OPT="$ROOT/$BIGMODEL_OPT"
fi
[[ -x "$BIGMODEL_OPT" ]] || die "bigmodel-opt not found or not executable: '$BIGMODEL_OPT' (build it, or pass BIGMODEL_OPT=/path/to/bigmodel-opt or --bigmodel-opt PATH)"
BIGMODEL_OPT="$(cd "$(dirname "$BIGMODEL_OPT")" && pwd)/$(basename "$BIGMODEL_OPT")"
command -v node >/dev/null || die "node not found (Node.js 20 is needed for run_ort.js)"
command -v taskset >/dev/null || die "taskset not found (package util-linux)"
[[ -x "$PY" ]] || die "$PY not found (compare_npy.py and quantize_like_ort.py need the system python3)"
"$PY" -c 'import numpy' 2>/dev/null || die "$PY cannot import numpy (apt-get install python3-numpy)"
"$PY" -c 'import onnx' 2>/dev/null || die "$PY cannot import onnx (apt-get install python3-onnx)"
[[ -d "$HERE/node_modules/onnxruntime-node" ]] || die "onnxruntime-node is not installed: cd benchmarks/ort && npm install --ignore-scripts onnxruntime-node"
for f in run_ort.js compare_npy.py quantize_like_ort.py perplexity.py; do [[ -f "$HERE/$f" ]] || die "missing $HERE/$f"; done
taskset -c "$CPU" true 2>/dev/null || die "cannot pin to CPU $CPU (set CPU=<core>)"

if [[ ! -d "$BENCH_DIR" ]]; then
  echo "bench_e2e.sh: benchmark model directory '$BENCH_DIR' not found. Make it with:" >&2
  echo "  /usr/bin/python3 $ROOT/tests/fixtures/make_bench_models.py $BENCH_DIR      # a few min (trains the small LM), ~180 MB" >&2
  exit 2
fi
MLP_DIR="$ROOT/tests/fixtures/digits_mlp"
[[ -f "$MLP_DIR/digits_mlp.opset13.onnx" ]] || die "missing $MLP_DIR/digits_mlp.opset13.onnx"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/bench_e2e.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
LOGF="$TMP/last.log"

# ---- helpers -----------------------------------------------------------------------------------------------------
# Each measurement returns "median_ms" or "error"; a failing step does not stop the whole run, its error is kept for
# the notes at the end.
FAILURES=()
note_failure() {
  FAILURES+=("$1: $(tail -n 3 "$LOGF" | tr '\n' ' ' | cut -c1-300)")
  log "FAILED: $1 (see notes)"
}

json_field() {  # json_field FIELD  (reads the last JSON line on stdin)
  "$PY" -c 'import json,sys
lines=[l for l in sys.stdin.read().splitlines() if l.strip().startswith("{")]
v=json.loads(lines[-1]).get(sys.argv[1]) if lines else None
print("error" if v is None else v)' "$1"
}

fmt_ms() { [[ "$1" == error ]] && echo "error" || awk -v v="$1" 'BEGIN { printf (v < 1 ? "%.4f" : "%.3f"), v }'; }
fmt_l2() { [[ "$1" == error || -z "$1" ]] && echo "error" || printf '%.2e' "$1"; }
ratio() {  # ratio NUM DEN
  if [[ "$1" == error || "$2" == error ]]; then echo "–"; else "$PY" -c 'import sys;print(f"{float(sys.argv[1])/float(sys.argv[2]):.2f}×")' "$1" "$2"; fi
}

# optimize_model IN OUT ARGS... ; echoes nothing, returns nonzero on failure
optimize_model() {
  local in="$1" out="$2"; shift 2
  log "optimize $(basename "$in") $* -> $(basename "$out")"
  "$BIGMODEL_OPT" optimize "$in" -o "$out" "$@" >"$LOGF" 2>&1
}

# ours_bench MODEL INPUTARGS... -> median ms
ours_bench() {
  local model="$1"; shift
  if taskset -c "$CPU" "$BIGMODEL_OPT" bench "$model" "$@" --runs "$RUNS" --warmup "$WARMUP" --threads 1 --json \
       >"$LOGF" 2>&1; then
    json_field median_ms <"$LOGF"
  else
    echo error
  fi
}
ort_bench() {
  local model="$1"; shift
  if taskset -c "$CPU" node "$HERE/run_ort.js" "$model" "$@" --runs "$RUNS" --warmup "$WARMUP" --threads 1 --json \
       >"$LOGF" 2>&1; then
    json_field median_ms <"$LOGF"
  else
    echo error
  fi
}

# compare REF OUTDIR [LABELS] -> "rel_l2" or "rel_l2 accuracy"
compare() {
  local ref="$1" dir="$2" labels="${3:-}" out
  out="$(find "$dir" -maxdepth 1 -name '*.npy' | sort | head -n 1)"
  if [[ -z "$out" ]]; then echo error; return; fi
  local extra=()
  [[ -n "$labels" ]] && extra=(--labels "$labels")
  if "$PY" "$HERE/compare_npy.py" "$ref" "$out" "${extra[@]}" --json >"$LOGF" 2>&1; then
    "$PY" -c 'import json,sys
d=json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
print(d["rel_l2"], d.get("accuracy", ""))' "$LOGF"
  else
    echo error
  fi
}

# measure KIND NAME MODEL REF LABELS INPUTARGS...  -> sets R_MS, R_L2, R_ACC
measure() {
  local kind="$1" name="$2" model="$3" ref="$4" labels="$5"; shift 5
  R_MS=error; R_L2=error; R_ACC=""
  if [[ "$model" == error ]]; then FAILURES+=("$name: model file could not be made"); return; fi
  local od="$TMP/out.$RANDOM$RANDOM"
  mkdir -p "$od"
  log "$kind $name"
  if [[ "$kind" == ours ]]; then
    R_MS="$(ours_bench "$model" "$@")"
    [[ "$R_MS" == error ]] && note_failure "$name (bench)"
    if "$BIGMODEL_OPT" run "$model" "$@" --threads 1 --output-dir "$od" >"$LOGF" 2>&1; then :; else
      note_failure "$name (run)"; rm -rf "$od"; return
    fi
  else
    # one run_ort.js call times the runs and writes the outputs (of the last run)
    R_MS="$(ort_bench "$model" "$@" --output-dir "$od")"
    if [[ "$R_MS" == error ]]; then note_failure "$name (run_ort.js)"; rm -rf "$od"; return; fi
  fi
  if [[ -n "${KEEP_OUT:-}" ]]; then  # caller wants the output file (LM perplexity)
    local first
    first="$(find "$od" -maxdepth 1 -name '*.npy' | sort | head -n 1)"
    [[ -n "$first" ]] && cp "$first" "$KEEP_OUT"
  fi
  local c
  c="$(compare "$ref" "$od" "$labels")"
  [[ "$c" == error ]] && note_failure "$name (compare_npy.py)"
  R_L2="${c%% *}"
  if [[ "$c" == *" "* ]]; then R_ACC="${c#* }"; fi
  rm -rf "$od"
}

input_args() {  # input_args MODEL BATCH -> --input NAME=FILE ... (one per line)
  local m="$1" b="$2" f n
  for f in "$BENCH_DIR/$m.${b}x128."*.npy; do
    n="$(basename "$f" .npy)"; n="${n#"$m.${b}x128."}"
    [[ "$n" == output ]] && continue
    printf -- '--input\n%s=%s\n' "$n" "$f"
  done
}

# ---- report header -----------------------------------------------------------------------------------------------
REPORT="$TMP/report.md"
{
  echo "# bigmodel vs ONNX Runtime, end to end"
  echo
  echo '```'
  echo "\$ $CMDLINE"
  echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "nproc:   $(nproc)"
  echo "load:    $(uptime | sed 's/.*load average[s]*: //')   (uptime load average, 1/5/15 min, at start)"
  echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || echo unknown), pinned with taskset -c $CPU"
  echo "ours:    $BIGMODEL_OPT (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo "ORT:     onnxruntime-node $(node -p "require('$HERE/node_modules/onnxruntime-node/package.json').version" 2>/dev/null || echo '?'), run_ort.js --threads 1 --opt all"
  echo "runs:    $RUNS (warmup $WARMUP), median ms of one inference, 1 thread each"
  echo '```'
  echo
} >"$REPORT"

# ---- transformer blocks ------------------------------------------------------------------------------------------
TABLE="$TMP/table.md"
{
  echo "| model | tokens | variant | median ms | rel. L2 vs PyTorch fp32 | ORT int8 ms / ours int8-dynamic ms | ORT fp32 ms / ours fp32 ms |"
  echo "|---|---|---|---:|---:|---:|---:|"
} >"$TABLE"
PROFILE_DONE=""
for opset in "${OPSETS[@]}"; do
  for m in bert_layer gpt_block; do
    src="$BENCH_DIR/$m.opset$opset.onnx"
    ortq="$BENCH_DIR/$m.opset$opset.ort_int8.onnx"
    if [[ ! -f "$src" || ! -f "$ortq" ]]; then
      FAILURES+=("$m opset $opset: $src or $ortq missing (re-run make_bench_models.py)"); continue
    fi
    mapfile -t CAL < <(input_args "$m" 1 | sed 's/^--input$/--calibration/')
    mapfile -t CHK < <(input_args "$m" 8)
    [[ ${#CAL[@]} -gt 0 && ${#CHK[@]} -gt 0 ]] || { FAILURES+=("$m: inputs $BENCH_DIR/$m.{1,8}x128.*.npy missing"); continue; }

    # each optimized file once per model
    declare -A FILE=()
    FILE[fp32]="$TMP/$m.$opset.fp32.onnx"
    optimize_model "$src" "${FILE[fp32]}" --optimize extended --keep-fused || { note_failure "$m opset$opset optimize fp32"; FILE[fp32]=error; }
    FILE[dyn]="$TMP/$m.$opset.int8dyn.onnx"
    optimize_model "$src" "${FILE[dyn]}" --optimize extended --keep-fused --quantize int8-dynamic --attention "$ATTENTION" || { note_failure "$m opset$opset optimize int8-dynamic"; FILE[dyn]=error; }
    FILE[static]="$TMP/$m.$opset.int8static.onnx"
    optimize_model "$src" "${FILE[static]}" --optimize extended --keep-fused --quantize int8-static "${CAL[@]}" --attention "$ATTENTION" || { note_failure "$m opset$opset optimize int8-static"; FILE[static]=error; }
    FILE[ortq]="$TMP/$m.$opset.ort_int8.opt.onnx"
    optimize_model "$ortq" "${FILE[ortq]}" --optimize extended --keep-fused || { note_failure "$m opset$opset optimize ORT int8 file"; FILE[ortq]=error; }

    for b in 1 8; do
      mapfile -t IN < <(input_args "$m" "$b")
      ref="$BENCH_DIR/$m.${b}x128.output.npy"
      tok="${b}×128"
      label="$m opset$opset $tok"
      measure ours "$label ours fp32" "${FILE[fp32]}" "$ref" "" "${IN[@]}";             o32=$R_MS; l_o32=$R_L2
      measure ours "$label ours int8-dynamic" "${FILE[dyn]}" "$ref" "" "${IN[@]}";      odyn=$R_MS; l_odyn=$R_L2
      measure ours "$label ours int8-static" "${FILE[static]}" "$ref" "" "${IN[@]}";    ost=$R_MS; l_ost=$R_L2
      measure ours "$label ours on ORT int8 file" "${FILE[ortq]}" "$ref" "" "${IN[@]}"; oq=$R_MS; l_oq=$R_L2
      measure ort "$label ORT fp32" "$src" "$ref" "" "${IN[@]}";                        r32=$R_MS; l_r32=$R_L2
      measure ort "$label ORT int8" "$ortq" "$ref" "" "${IN[@]}";                       rq=$R_MS; l_rq=$R_L2
      name="$m (opset $opset)"
      {
        echo "| $name | $tok | ours fp32 | $(fmt_ms "$o32") | $(fmt_l2 "$l_o32") | | $(ratio "$r32" "$o32") |"
        echo "| $name | $tok | ours int8-dynamic | $(fmt_ms "$odyn") | $(fmt_l2 "$l_odyn") | $(ratio "$rq" "$odyn") | |"
        echo "| $name | $tok | ours int8-static | $(fmt_ms "$ost") | $(fmt_l2 "$l_ost") | | |"
        echo "| $name | $tok | ours on ORT's int8 file | $(fmt_ms "$oq") | $(fmt_l2 "$l_oq") | | |"
        echo "| $name | $tok | ORT fp32 | $(fmt_ms "$r32") | $(fmt_l2 "$l_r32") | | |"
        echo "| $name | $tok | ORT int8 | $(fmt_ms "$rq") | $(fmt_l2 "$l_rq") | | |"
      } >>"$TABLE"

      if [[ "$m" == bert_layer && "$b" == 8 && -z "$PROFILE_DONE" && "${FILE[dyn]}" != error ]]; then
        PROFILE_DONE=1
        log "profile: $label ours int8-dynamic"
        if taskset -c "$CPU" "$BIGMODEL_OPT" bench "${FILE[dyn]}" "${IN[@]}" --runs "$RUNS" --warmup "$WARMUP" \
             --threads 1 --profile >"$TMP/profile.txt" 2>&1; then
          sed -n '/^profile over/,$p' "$TMP/profile.txt" >"$TMP/profile.md"
        else
          cp "$TMP/profile.txt" "$LOGF"; note_failure "$label profile"
        fi
      fi
    done
    unset FILE
  done
done

# ---- small LM ----------------------------------------------------------------------------------------------------
# lm.opset17.onnx from tests/fixtures/make_bench_lm.py (byte-level, 4 blocks, d_model 256): input_ids int64, logits.
# Besides speed and rel. L2, the held-out next-byte cross-entropy (bits per byte, perplexity) of each variant's logits.
LM_TABLE="$TMP/lm.md"
{
  echo "| model | tokens | variant | median ms | rel. L2 vs PyTorch fp32 | bits/byte (perplexity) | ORT int8 ms / ours int8-dynamic ms | ORT fp32 ms / ours fp32 ms |"
  echo "|---|---|---|---:|---:|---:|---:|---:|"
} >"$LM_TABLE"
ppl() {  # ppl IDS LOGITS -> "b.bbb (p.pp)" or "error"
  if [[ -f "$2" ]] && "$PY" "$HERE/perplexity.py" "$1" "$2" --json >"$LOGF" 2>&1; then
    "$PY" -c 'import json,sys
d=json.loads([l for l in open(sys.argv[1]) if l.startswith("{")][-1])
print("%.3f (%.2f)" % (d["bits_per_token"], d["perplexity"]))' "$LOGF"
  else
    echo error
  fi
}
LM_DONE=""
for opset in "${OPSETS[@]}"; do
  m=lm
  src="$BENCH_DIR/$m.opset$opset.onnx"
  ortq="$BENCH_DIR/$m.opset$opset.ort_int8.onnx"
  if [[ ! -f "$src" || ! -f "$ortq" ]]; then
    FAILURES+=("$m opset $opset: $src or $ortq missing (re-run make_bench_models.py)"); continue
  fi
  LM_DONE=1
  declare -A FILE=()
  FILE[fp32]="$TMP/$m.$opset.fp32.onnx"
  optimize_model "$src" "${FILE[fp32]}" --optimize extended --keep-fused || { note_failure "$m opset$opset optimize fp32"; FILE[fp32]=error; }
  FILE[dyn]="$TMP/$m.$opset.int8dyn.onnx"
  optimize_model "$src" "${FILE[dyn]}" --optimize extended --keep-fused --quantize int8-dynamic --attention "$ATTENTION" || { note_failure "$m opset$opset optimize int8-dynamic"; FILE[dyn]=error; }
  FILE[static]="$TMP/$m.$opset.int8static.onnx"
  optimize_model "$src" "${FILE[static]}" --optimize extended --keep-fused --quantize int8-static --calibration "input_ids=$BENCH_DIR/$m.1x128.input_ids.npy" --attention "$ATTENTION" || { note_failure "$m opset$opset optimize int8-static"; FILE[static]=error; }
  FILE[ortq]="$TMP/$m.$opset.ort_int8.opt.onnx"
  optimize_model "$ortq" "${FILE[ortq]}" --optimize extended --keep-fused || { note_failure "$m opset$opset optimize ORT int8 file"; FILE[ortq]=error; }
  for b in 1 8; do
    ids="$BENCH_DIR/$m.${b}x128.input_ids.npy"
    ref="$BENCH_DIR/$m.${b}x128.output.npy"
    IN=(--input "input_ids=$ids")
    tok="${b}×128"
    label="$m opset$opset $tok"
    name="lm (opset $opset)"
    declare -A P=()
    for v in o32 odyn ost oq r32 rq; do rm -f "$TMP/lm_out.$v.npy"; done
    KEEP_OUT="$TMP/lm_out.o32.npy" measure ours "$label ours fp32" "${FILE[fp32]}" "$ref" "" "${IN[@]}";             o32=$R_MS; l_o32=$R_L2
    KEEP_OUT="$TMP/lm_out.odyn.npy" measure ours "$label ours int8-dynamic" "${FILE[dyn]}" "$ref" "" "${IN[@]}";      odyn=$R_MS; l_odyn=$R_L2
    KEEP_OUT="$TMP/lm_out.ost.npy" measure ours "$label ours int8-static" "${FILE[static]}" "$ref" "" "${IN[@]}";    ost=$R_MS; l_ost=$R_L2
    KEEP_OUT="$TMP/lm_out.oq.npy" measure ours "$label ours on ORT int8 file" "${FILE[ortq]}" "$ref" "" "${IN[@]}"; oq=$R_MS; l_oq=$R_L2
    KEEP_OUT="$TMP/lm_out.r32.npy" measure ort "$label ORT fp32" "$src" "$ref" "" "${IN[@]}";                        r32=$R_MS; l_r32=$R_L2
    KEEP_OUT="$TMP/lm_out.rq.npy" measure ort "$label ORT int8" "$ortq" "$ref" "" "${IN[@]}";                       rq=$R_MS; l_rq=$R_L2
    for v in o32 odyn ost oq r32 rq; do P[$v]="$(ppl "$ids" "$TMP/lm_out.$v.npy")"; done
    P[torch]="$(ppl "$ids" "$ref")"
    {
      echo "| $name | $tok | PyTorch fp32 (reference) | | | ${P[torch]} | | |"
      echo "| $name | $tok | ours fp32 | $(fmt_ms "$o32") | $(fmt_l2 "$l_o32") | ${P[o32]} | | $(ratio "$r32" "$o32") |"
      echo "| $name | $tok | ours int8-dynamic | $(fmt_ms "$odyn") | $(fmt_l2 "$l_odyn") | ${P[odyn]} | $(ratio "$rq" "$odyn") | |"
      echo "| $name | $tok | ours int8-static | $(fmt_ms "$ost") | $(fmt_l2 "$l_ost") | ${P[ost]} | | |"
      echo "| $name | $tok | ours on ORT's int8 file | $(fmt_ms "$oq") | $(fmt_l2 "$l_oq") | ${P[oq]} | | |"
      echo "| $name | $tok | ORT fp32 | $(fmt_ms "$r32") | $(fmt_l2 "$l_r32") | ${P[r32]} | | |"
      echo "| $name | $tok | ORT int8 | $(fmt_ms "$rq") | $(fmt_l2 "$l_rq") | ${P[rq]} | | |"
    } >>"$LM_TABLE"
    unset P
  done
  unset FILE
done

# ---- digits MLP --------------------------------------------------------------------------------------------------
MLP_TABLE="$TMP/mlp.md"
{
  echo "| model | batch | variant | median ms | rel. L2 vs PyTorch fp32 | accuracy (y_test) | ORT int8 ms / ours int8-dynamic ms | ORT fp32 ms / ours fp32 ms |"
  echo "|---|---:|---|---:|---:|---:|---:|---:|"
} >"$MLP_TABLE"
msrc="$MLP_DIR/digits_mlp.opset13.onnx"
mname="$("$BIGMODEL_OPT" inspect "$msrc" 2>/dev/null | awk '/^inputs:/{getline; print $1; exit}')"
mname="${mname:-input}"
"$PY" -c 'import numpy as np,sys
x=np.load(sys.argv[1]); np.save(sys.argv[2], np.ascontiguousarray(x[:1]))
r=np.load(sys.argv[3]); np.save(sys.argv[4], np.ascontiguousarray(r[:1]))' \
  "$MLP_DIR/x_test.npy" "$TMP/mlp_x1.npy" "$MLP_DIR/logits_fp32.npy" "$TMP/mlp_ref1.npy"
declare -A MF=()
MF[fp32]="$TMP/mlp.fp32.onnx"
optimize_model "$msrc" "${MF[fp32]}" --optimize extended --keep-fused || { note_failure "digits_mlp optimize fp32"; MF[fp32]=error; }
MF[dyn]="$TMP/mlp.int8dyn.onnx"
optimize_model "$msrc" "${MF[dyn]}" --optimize extended --keep-fused --quantize int8-dynamic --attention "$ATTENTION" || { note_failure "digits_mlp optimize int8-dynamic"; MF[dyn]=error; }
MF[static]="$TMP/mlp.int8static.onnx"
optimize_model "$msrc" "${MF[static]}" --optimize extended --keep-fused --quantize int8-static --calibration "$mname=$MLP_DIR/x_calib.npy" || { note_failure "digits_mlp optimize int8-static"; MF[static]=error; }
MF[ortq]="$TMP/mlp.ort_int8.onnx"
log "quantize_like_ort.py digits_mlp"
"$PY" "$HERE/quantize_like_ort.py" "$msrc" "${MF[ortq]}" >"$LOGF" 2>&1 || { note_failure "digits_mlp quantize_like_ort.py"; MF[ortq]=error; }
for b in 1 360; do
  if [[ $b == 1 ]]; then x="$TMP/mlp_x1.npy"; ref="$TMP/mlp_ref1.npy"; labels=""
  else x="$MLP_DIR/x_test.npy"; ref="$MLP_DIR/logits_fp32.npy"; labels="$MLP_DIR/y_test.npy"; fi
  IN=(--input "$mname=$x")
  measure ours "digits_mlp b$b ours fp32" "${MF[fp32]}" "$ref" "$labels" "${IN[@]}";          o32=$R_MS; l_o32=$R_L2; a_o32=$R_ACC
  measure ours "digits_mlp b$b ours int8-dynamic" "${MF[dyn]}" "$ref" "$labels" "${IN[@]}";   odyn=$R_MS; l_odyn=$R_L2; a_odyn=$R_ACC
  measure ours "digits_mlp b$b ours int8-static" "${MF[static]}" "$ref" "$labels" "${IN[@]}"; ost=$R_MS; l_ost=$R_L2; a_ost=$R_ACC
  measure ort "digits_mlp b$b ORT fp32" "$msrc" "$ref" "$labels" "${IN[@]}";                  r32=$R_MS; l_r32=$R_L2; a_r32=$R_ACC
  measure ort "digits_mlp b$b ORT int8" "${MF[ortq]}" "$ref" "$labels" "${IN[@]}";            rq=$R_MS; l_rq=$R_L2; a_rq=$R_ACC
  acc() { [[ -z "$1" ]] && echo "" || "$PY" -c 'import sys;print(f"{100*float(sys.argv[1]):.2f} %")' "$1"; }
  {
    echo "| digits_mlp (opset 13) | $b | ours fp32 | $(fmt_ms "$o32") | $(fmt_l2 "$l_o32") | $(acc "$a_o32") | | $(ratio "$r32" "$o32") |"
    echo "| digits_mlp (opset 13) | $b | ours int8-dynamic | $(fmt_ms "$odyn") | $(fmt_l2 "$l_odyn") | $(acc "$a_odyn") | $(ratio "$rq" "$odyn") | |"
    echo "| digits_mlp (opset 13) | $b | ours int8-static | $(fmt_ms "$ost") | $(fmt_l2 "$l_ost") | $(acc "$a_ost") | | |"
    echo "| digits_mlp (opset 13) | $b | ORT fp32 | $(fmt_ms "$r32") | $(fmt_l2 "$l_r32") | $(acc "$a_r32") | | |"
    echo "| digits_mlp (opset 13) | $b | ORT int8 | $(fmt_ms "$rq") | $(fmt_l2 "$l_rq") | $(acc "$a_rq") | | |"
  } >>"$MLP_TABLE"
done

# ---- assemble ----------------------------------------------------------------------------------------------------
{
  echo "## Transformer blocks (sequence 128)"
  echo
  cat "$TABLE"
  echo
  echo "## Small LM (byte-level, 4 blocks, d_model 256, sequence 128)"
  echo
  if [[ -n "$LM_DONE" ]]; then cat "$LM_TABLE"; else echo "(not run: lm.opset*.onnx missing in $BENCH_DIR)"; fi
  echo
  echo "## digits MLP"
  echo
  cat "$MLP_TABLE"
  echo
  echo "Notes:"
  echo
  echo "- Ratio columns are speed-ups: ORT's median over ours, so > 1 means bigmodel is faster. The int8 ratio is on"
  echo "  the 'ours int8-dynamic' row, the fp32 ratio on the 'ours fp32' row."
  echo "- ours fp32 / int8-dynamic / int8-static: \`bigmodel-opt optimize --optimize extended --keep-fused [--quantize ...]\`"
  echo "  (fused ops kept: the runtime reads them; without --keep-fused the file is standard ONNX), each file"
  echo "  made once per model and used for both batch sizes; timed with \`bigmodel-opt bench --threads 1\`, outputs from"
  echo "  \`bigmodel-opt run\`."
  echo "- int8-static is calibrated on the 1×128 inputs of each model (bert_layer: \`--calibration"
  echo "  hidden_states=<model>.1x128.hidden_states.npy --calibration attention_mask=<model>.1x128.attention_mask.npy\`,"
  echo "  gpt_block: hidden_states only), so its 1×128 row is measured on its own calibration data; the digits MLP is"
  echo "  calibrated on x_calib.npy."
  echo "- ours on ORT's int8 file: \`<model>.opset<N>.ort_int8.onnx\` (DynamicQuantizeLinear + MatMulInteger form from"
  echo "  quantize_like_ort.py) passed through \`optimize --optimize extended --keep-fused\`, then run by bigmodel."
  echo "- ORT: onnxruntime-node via run_ort.js (1 intra-op thread, 1 inter-op thread, sequential, graph optimization"
  echo "  'all'), on the fp32 file and on the .ort_int8.onnx file; for the MLP the ORT int8 file is made by"
  echo "  quantize_like_ort.py (MatMul and Gemm) in a temp dir."
  echo "- rel. L2 = ||out − ref|| / ||ref|| from compare_npy.py against PyTorch's fp32 output"
  echo "  (\`<model>.<B>x128.output.npy\`; for the MLP tests/fixtures/digits_mlp/logits_fp32.npy, first row for batch 1)."
  echo "  Accuracy: argmax of the logits against y_test.npy (360 samples)."
  echo "- Small LM: \`lm.opset<N>.onnx\` from tests/fixtures/make_bench_lm.py, inputs \`lm.<B>x128.input_ids.npy\` (held-out"
  echo "  windows of /usr/share/common-licenses/Apache-2.0, not in the training text); int8-static calibrated on the"
  echo "  1×128 window. bits/byte (perplexity): perplexity.py, mean next-byte cross-entropy of each variant's logits over"
  echo "  B × 127 predictions; the PyTorch row scores \`lm.<B>x128.output.npy\`."
  echo "- Every process is pinned with \`taskset -c $CPU\`; median of $RUNS runs after $WARMUP warm-up runs."
  if [[ ${#FAILURES[@]} -gt 0 ]]; then
    echo
    echo "Failures (cells marked 'error'):"
    echo
    for f in "${FAILURES[@]}"; do echo "- $f"; done
  fi
  echo
  echo "## Where the time goes"
  echo
  echo "bert_layer (opset ${OPSETS[0]}), 8×128, ours int8-dynamic, \`bigmodel-opt bench --profile\` ($RUNS runs):"
  echo
  echo '```'
  if [[ -s "$TMP/profile.md" ]]; then cat "$TMP/profile.md"; else echo "(profile not available)"; fi
  echo '```'
  echo
  echo "load at end: $(uptime | sed 's/.*load average[s]*: //')"
} >>"$REPORT"

if [[ -n "$OUTPUT" ]]; then
  cp "$REPORT" "$OUTPUT"
  log "wrote $OUTPUT"
else
  cat "$REPORT"
fi
if [[ ${#FAILURES[@]} -gt 0 ]]; then
  log "${#FAILURES[@]} step(s) failed; see the notes in the report"
  exit 1
fi

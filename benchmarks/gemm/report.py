#!/usr/bin/env python3
"""Turns bench_gemm's JSON output (--benchmark_out=FILE with repetitions) into the RESULTS.md tables:
ours vs oneDNN vs Eigen per shape (median GOPS), the ratios, and our fraction of the measured limits."""
import json
import sys


def load(path):
    rows = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"].replace("/real_time", "")
        kind, _, rest = name.partition("/")
        value = b.get("GOPS", b.get("GBps"))
        rows[(kind, rest)] = (value, b)
    return rows


def fmt(x, digits=0):
    return "–" if x is None else f"{x:.{digits}f}"


def main(path):
    r = load(path)
    get = lambda kind, shape: r.get((kind, shape), (None, None))[0]
    peak = get("limit_vnni_peak", "")
    bw = {size: get("limit_read_bw", size) for size in ("524288", "16777216", "536870912")}
    print(f"Measured limits (same run): VNNI peak {fmt(peak)} GOPS; read bandwidth L2 {fmt(bw['524288'], 1)} / "
          f"L3 {fmt(bw['16777216'], 1)} / DRAM {fmt(bw['536870912'], 1)} GB/s\n")
    print("| M,N,K | ours GOPS | oneDNN GOPS | ours/oneDNN | Eigen fp32 GFLOPS | ours/Eigen | ours % of VNNI peak | linear_dynamic GOPS | ld/ours |")
    print("|---|---|---|---|---|---|---|---|---|")
    shapes = [s for (k, s) in r if k == "ours"]
    shapes.sort(key=lambda s: [int(x) for x in s.split("x")])
    for s in sorted(shapes, key=lambda s: (int(s.split("x")[1]) * int(s.split("x")[2]) != 4096 * 4096, [int(x) for x in s.split("x")])):
        ours, dnnl, eig, ld = get("ours", s), get("onednn", s), get("eigen_f32", s), get("ours_linear_dynamic", s)
        ratio = lambda a, b: f"{a / b:.2f}" if a and b else "–"
        print(f"| {s.replace('x', ',')} | {fmt(ours)} | {fmt(dnnl)} | {ratio(ours, dnnl)} | {fmt(eig)} | {ratio(ours, eig)} | "
              f"{fmt(100 * ours / peak if ours and peak else None)} % | {fmt(ld)} | {ratio(ld, ours)} |")
    print("\nWeights streamed from memory (rotating over copies of B, 64 MiB > L3):\n")
    print("| M,N,K | ours GOPS | ours weight GB/s | % of DRAM read bw | oneDNN GOPS | ours/oneDNN |")
    print("|---|---|---|---|---|---|")
    for (k, s) in sorted([key for key in r if key[0] == "ours_cold"], key=lambda x: int(x[1].split("x")[0])):
        ours, b = r[(k, s)]
        gbps = b.get("weight_GBps")
        dnnl = get("onednn_cold", s)
        dram = bw["536870912"]
        print(f"| {s.replace('x', ',')} | {fmt(ours)} | {fmt(gbps, 1)} | {fmt(100 * gbps / dram if gbps and dram else None)} % | "
              f"{fmt(dnnl)} | {f'{ours / dnnl:.2f}' if ours and dnnl else '–'} |")


def paired(path):
    """The back-to-back ratios of paired_bench.cpp: robust against load from other processes."""
    rows = {}
    for b in json.load(open(path))["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b["run_name"].replace("/real_time", "")
        if name.startswith("paired"):
            rows[name] = b
    if not rows:
        return
    print("\nBack to back in each iteration (medians of per-iteration ratios; robust to machine load):\n")
    print("| M,N,K | ours GOPS | ours/oneDNN | ours/Eigen fp32 | ours / VNNI peak | weight GB/s | ours / read bw |")
    print("|---|---|---|---|---|---|---|")
    key = lambda n: (n.startswith("paired_cold"), [int(x) for x in n.split("/")[1].split("x")])
    for name in sorted(rows, key=key):
        b = rows[name]
        get = lambda c, d=2: f"{b[c]:.{d}f}" if c in b else "–"
        label = name.split("/")[1].replace("x", ",") + (" (weights from DRAM)" if name.startswith("paired_cold") else "")
        print(f"| {label} | {get('ours_GOPS', 0)} | {get('ours_over_onednn')} | {get('ours_over_eigen')} | "
              f"{get('peak_fraction')} | {get('weight_GBps', 1)} | {get('read_bw_fraction')} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gemm.json")
    paired(sys.argv[1] if len(sys.argv) > 1 else "gemm.json")

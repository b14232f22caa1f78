#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime's CPU build (onnxruntime-node) for bigmodel's benchmarks and fixture checks.
//
//   node run_ort.js MODEL.onnx --input NAME=FILE.npy [--input ...] [--runs 20] [--warmup 3] [--threads 1]
//                   [--opt all|extended|basic|disabled] [--output-dir DIR] [--json] [--quiet]
//
// Prints the median (and p90, min) latency in ms of session.run over --runs runs, after --warmup runs;
// with --output-dir writes every output as DIR/<output name>.npy. Inputs and outputs are NumPy .npy
// (v1/v2/v3 headers, little-endian f32, f64, i64, i32, i16, i8, u8, bool; C order).
// Setup once: `npm install --ignore-scripts onnxruntime-node` in this folder.
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array], '<i2': ['int16', Int16Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '|b1': ['bool', Uint8Array],
};
const DESCR = Object.fromEntries(Object.entries(DTYPES).map(([k, v]) => [v[0], k]));

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.readUInt32BE(0) !== 0x934e554d || buf.toString('latin1', 4, 6) !== 'PY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString(major === 3 ? 'utf8' : 'latin1', start, start + hlen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: fortran_order not supported`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const dt = DTYPES[descr];
  if (!dt) throw new Error(`${file}: dtype ${descr} not supported`);
  const n = shape.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  const bytes = n * dt[1].BYTES_PER_ELEMENT;
  if (buf.length < off + bytes) throw new Error(`${file}: truncated`);
  const copy = new Uint8Array(bytes);
  copy.set(buf.subarray(off, off + bytes));
  // bool tensors are Uint8Array of 0/1 in onnxruntime-common, as in the file
  return new ort.Tensor(dt[0], new dt[1](copy.buffer), shape);
}

function writeNpy(file, tensor) {
  const descr = DESCR[tensor.type];
  if (!descr) throw new Error(`output type ${tensor.type} not supported`);
  const dims = tensor.dims.map(Number);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.writeUInt32BE(0x934e554d, 0);
  head.write('PY', 4, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const data = tensor.data;
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

function parseArgs(argv) {
  const a = { model: null, inputs: {}, runs: 20, warmup: 3, threads: 1, opt: 'all', outputDir: null, json: false,
    quiet: false };
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--input') {
      const v = next();
      const eq = v.indexOf('=');
      if (eq <= 0) throw new Error(`--input wants NAME=FILE.npy, got ${v}`);
      a.inputs[v.slice(0, eq)] = v.slice(eq + 1);
    } else if (k === '--runs') a.runs = parseInt(next(), 10);
    else if (k === '--warmup') a.warmup = parseInt(next(), 10);
    else if (k === '--threads') a.threads = parseInt(next(), 10);
    else if (k === '--opt') a.opt = next();
    else if (k === '--output-dir') a.outputDir = next();
    else if (k === '--json') a.json = true;
    else if (k === '--quiet') a.quiet = true;
    else if (k === '--help' || k === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('\n').slice(1, 10).join('\n'));
      process.exit(0);
    } else if (!a.model && !k.startsWith('--')) a.model = k;
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.model) throw new Error('no model given (--help)');
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: a.opt,
  });
  const feeds = {};
  for (const name of session.inputNames) {
    if (!(name in a.inputs)) throw new Error(`model input '${name}' not given (--input ${name}=FILE.npy)`);
    feeds[name] = readNpy(a.inputs[name]);
  }
  for (const name of Object.keys(a.inputs)) {
    if (!session.inputNames.includes(name)) throw new Error(`model has no input '${name}' (${session.inputNames})`);
  }
  let out = null;
  for (let i = 0; i < a.warmup; ++i) out = await session.run(feeds);
  const ms = [];
  for (let i = 0; i < Math.max(1, a.runs); ++i) {
    const t0 = process.hrtime.bigint();
    out = await session.run(feeds);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  ms.sort((x, y) => x - y);
  const pick = (q) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))];
  const res = { model: path.basename(a.model), runs: ms.length, threads: a.threads, opt: a.opt,
    median_ms: pick(0.5), p90_ms: pick(0.9), min_ms: ms[0] };
  if (a.outputDir) {
    fs.mkdirSync(a.outputDir, { recursive: true });
    for (const [name, t] of Object.entries(out)) writeNpy(path.join(a.outputDir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`), t);
  }
  if (a.json) console.log(JSON.stringify(res));
  else if (!a.quiet) {
    console.log(`${res.model}: median ${res.median_ms.toFixed(3)} ms, p90 ${res.p90_ms.toFixed(3)} ms, ` +
      `min ${res.min_ms.toFixed(3)} ms (${res.runs} runs, ${a.threads} thread(s), opt ${a.opt})`);
  }
}

main().catch((e) => {
  console.error(`run_ort: ${e.message}`);
  process.exit(1);
});

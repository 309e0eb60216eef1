#!/usr/bin/env node
// onnxruntime peer for ancat-bench: the recipe's ONNX export of the same model, run by the
// native runtime that the npm package onnxruntime-node ships (libonnxruntime.so, CPU EP).
//
// Measures the offline full-utterance encoder: features [1, T, 80] (raw fbank, written by the
// torch peer from the same audio) in, encoder output out. The graph is the recipe's
// Transducer.encode(), so it does the same work as the torch peer's offline mode (full T2 x T2
// masked attention). onnxruntime runs one session.run() per utterance; the per-call overhead of
// the Node binding (tens of microseconds) is included and is negligible at this size.
// Prints one JSON object on the last line of stdout.
'use strict';
const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = {threads: 1, min_seconds: 3, min_runs: 3, bins: 80, reference: ''};
  for (const arg of argv) {
    const m = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`bad argument ${arg} (use --name=value)`);
    a[m[1]] = m[2];
  }
  for (const k of ['onnx', 'features']) if (!a[k]) throw new Error(`--${k} is required`);
  a.threads = Number(a.threads);
  a.min_seconds = Number(a.min_seconds);
  a.min_runs = Number(a.min_runs);
  a.bins = Number(a.bins);
  return a;
}

function readF32(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

// Feeds by the graph's declared inputs: the rank-3 float input gets the features, an integer
// input gets the frame count (lengths), a float scalar (e.g. beta) gets 0.
function makeFeeds(ort, session, feats, frames, bins) {
  const feeds = {};
  const metas = session.inputMetadata;
  for (let i = 0; i < session.inputNames.length; i++) {
    const name = session.inputNames[i];
    const meta = metas ? metas[i] : {};
    const rank = meta.shape ? meta.shape.length : (/len/i.test(name) ? 1 : 3);
    const type = meta.type || (/len/i.test(name) ? 'int64' : 'float32');
    if (type === 'float32' && rank === 3) {
      feeds[name] = new ort.Tensor('float32', feats, [1, frames, bins]);
    } else if (type === 'int64' || type === 'int32') {
      const v = type === 'int64' ? BigInt64Array.from([BigInt(frames)]) : Int32Array.from([frames]);
      feeds[name] = new ort.Tensor(type, v, rank === 0 ? [] : [1]);
    } else if (type === 'float32' && rank <= 1) {
      feeds[name] = new ort.Tensor('float32', Float32Array.from([0]), rank === 0 ? [] : [1]);
    } else {
      throw new Error(`input ${name}: type ${type} rank ${rank} not understood`);
    }
  }
  return feeds;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = require(path.join(__dirname, '.deps/node/node_modules/onnxruntime-node'));
  const session = await ort.InferenceSession.create(args.onnx, {
    intraOpNumThreads: args.threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all'});
  const feats = readF32(args.features);
  const frames = feats.length / args.bins;
  const feeds = makeFeeds(ort, session, feats, frames, args.bins);

  const first = await session.run(feeds);  // warm-up; also the output for the check below
  const times = [];
  const start = process.hrtime.bigint();
  const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
  while (times.length < args.min_runs || elapsed(start) < args.min_seconds) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(elapsed(t0));
  }
  times.sort((x, y) => x - y);
  const out = first[session.outputNames[0]];
  const result = {
    peer: 'onnxruntime', version: ort.env.versions.node || ort.env.versions.common,
    threads: args.threads, fbank_frames: frames,
    inputs: session.inputNames, outputs: session.outputNames, output_dims: out.dims,
    offline: {
      what: 'session.run() of the ONNX export on the whole utterance',
      runs: times.length, median_s: times[Math.floor(times.length / 2)], min_s: times[0]},
  };
  if (args.reference) {  // the torch peer's encoder output: same weights, same math
    const ref = readF32(args.reference);
    let diff = ref.length === out.data.length ? 0 : Infinity;
    for (let i = 0; diff !== Infinity && i < ref.length; i++) {
      diff = Math.max(diff, Math.abs(ref[i] - out.data[i]));
    }
    result.max_abs_diff_vs_torch = diff;
  }
  await session.release();
  console.log(JSON.stringify(result));
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });

#!/usr/bin/env node
// onnxruntime peer for ancat-bench: the recipe's ONNX export of the same model, run by the
// native runtime that the npm package onnxruntime-node ships (libonnxruntime.so, CPU EP).
//
// Measures the offline full-utterance encoder: features [1, T, 80] (raw fbank, written by the
// torch peer from the same audio) in, encoder output out. The graph is the recipe's
// Transducer.encode(), so it does the same work as the torch peer's offline mode (full T2 x T2
// masked attention). onnxruntime runs one session.run() per utterance; the per-call overhead of
// the Node binding (tens of microseconds) is included and is negligible at this size.
//
// With --streaming_dir (graphs from onnx_streaming_export.py) it also measures streaming: the
// same dependency-driven loop as the torch peer's StreamingEncoder, chunk_frames fbank rows per
// step, every piece of model math in onnxruntime, each node once over K/V caches.
// Prints one JSON object on the last line of stdout.
'use strict';
const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = {threads: 1, min_seconds: 3, min_runs: 3, bins: 80, reference: '', onnx: '',
             streaming_dir: '', chunk_frames: 4};
  for (const arg of argv) {
    const m = /^--([a-z_]+)=(.*)$/.exec(arg);
    if (!m) throw new Error(`bad argument ${arg} (use --name=value)`);
    a[m[1]] = m[2];
  }
  if (!a.features) throw new Error('--features is required');
  if (!a.onnx && !a.streaming_dir) throw new Error('--onnx or --streaming_dir is required');
  a.chunk_frames = Number(a.chunk_frames);
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

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

// Runs fn (async) once to warm up, then until both limits are met. Returns median wall and
// process CPU seconds per run (CPU time leaves out waiting for a busy core).
async function timeRuns(fn, minSeconds, minRuns) {
  await fn();
  const walls = [], cpus = [];
  const start = process.hrtime.bigint();
  const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;
  while (walls.length < minRuns || elapsed(start) < minSeconds) {
    const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
    await fn();
    walls.push(elapsed(t0));
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e6);
  }
  const median = (v) => v.slice().sort((x, y) => x - y)[Math.floor(v.length / 2)];
  return {runs: walls.length, median_s: median(walls), min_s: Math.min(...walls),
          median_cpu_s: median(cpus)};
}

async function offline(ort, args, opts, feats, frames, reference) {
  const session = await ort.InferenceSession.create(args.onnx, opts);
  const feeds = makeFeeds(ort, session, feats, frames, args.bins);
  const first = await session.run(feeds);  // warm-up; also the output for the check below
  const times = await timeRuns(() => session.run(feeds), args.min_seconds, args.min_runs);
  const out = first[session.outputNames[0]];
  const r = {
    what: 'session.run() of the ONNX export on the whole utterance',
    inputs: session.inputNames, outputs: session.outputNames, output_dims: out.dims, ...times};
  if (reference) r.max_abs_diff_vs_torch = maxAbsDiff(reference, out.data);
  await session.release();
  return r;
}

// The streaming encoder of onnx_streaming_export.py's pieces (see that file and the torch
// peer's StreamingEncoder, which this follows line by line).
class StreamingEncoder {
  static async create(ort, dir, opts) {
    const se = new StreamingEncoder();
    se.ort = ort;
    se.m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json')));
    se.calls = 0;
    const open = async (name) => {  // counts session.run() calls
      const session = await ort.InferenceSession.create(path.join(dir, name), opts);
      return {run: (feeds) => { se.calls++; return session.run(feeds); }, session};
    };
    se.conv1 = await open('conv1.onnx');
    se.conv2 = await open('conv2.onnx');
    se.layerIn = [];
    se.layerOut = [];
    for (let l = 0; l < se.m.num_layers; l++) {
      se.layerIn.push(await open(`layer${l}_in.onnx`));
      se.layerOut.push(await open(`layer${l}_out.onnx`));
    }
    se.finalNorm = await open('final_norm.onnx');
    return se;
  }

  reset(frames) {
    const m = this.m;
    this.t1 = Math.floor((frames - 1) / 2) + 1;
    this.t2 = Math.floor((this.t1 - 1) / 2) + 1;
    this.c1Row = m.channels * m.freq1;
    this.c1 = new Float32Array(this.t1 * this.c1Row);
    this.n1 = 0;
    const d = m.d_model;
    this.x = [];
    this.q = [];
    this.k = [];
    this.v = [];
    this.la = [];
    for (let l = 0; l <= m.num_layers; l++) this.x.push(new Float32Array(this.t2 * d));
    for (let l = 0; l < m.num_layers; l++) {
      this.q.push(new Float32Array(this.t2 * d));
      this.k.push(new Float32Array(this.t2 * d));
      this.v.push(new Float32Array(this.t2 * d));
      this.la.push(new Int32Array(this.t2));
    }
    this.n = new Array(m.num_layers + 1).fill(0);
  }

  // Rows [from, to) of a time-major buffer with `width` floats per row, `pad` rows of
  // padRow (or zeros) in front.
  window(buf, width, from, to, pad, padRow) {
    const out = new Float32Array((pad + to - from) * width);
    for (let i = 0; i < pad; i++) if (padRow) out.set(padRow, i * width);
    out.set(buf.subarray(from * width, to * width), pad * width);
    return out;
  }

  async subsample(feats, nf) {
    const m = this.m;
    const T = this.ort.Tensor;
    const n1 = nf === 0 ? 0 : Math.floor((nf - 1) / 2) + 1;
    if (n1 > this.n1) {
      const lo = 2 * this.n1 - 2, hi = 2 * (n1 - 1) + 1;
      const rows = this.window(feats, m.num_mel_bins, Math.max(lo, 0), hi, Math.max(-lo, 0),
                               this.cmvnMean);
      const r = await this.conv1.run({rows: new T('float32', rows, [rows.length / m.num_mel_bins, m.num_mel_bins])});
      this.c1.set(r.out.data, this.n1 * this.c1Row);
      this.n1 = n1;
    }
    const n2 = this.n1 === 0 ? 0 : Math.floor((this.n1 - 1) / 2) + 1;
    const j0 = this.n[0];
    if (n2 > j0) {
      const lo = 2 * j0 - 2, hi = 2 * (n2 - 1) + 1;
      const rows = this.window(this.c1, this.c1Row, Math.max(lo, 0), hi, Math.max(-lo, 0), null);
      const r = await this.conv2.run({rows: new T('float32', rows, [rows.length / this.c1Row, m.channels, m.freq1])});
      await this.append(0, r.out.data, n2 - j0);
    }
  }

  async append(l, rows, count) {
    const d = this.m.d_model;
    const a = this.n[l];
    this.x[l].set(rows, a * d);
    this.n[l] = a + count;
    if (l === this.m.num_layers) return;
    const T = this.ort.Tensor;
    const pos = new BigInt64Array(count);
    for (let i = 0; i < count; i++) pos[i] = BigInt(a + i);
    const r = await this.layerIn[l].run({x: new T('float32', rows, [count, d]), pos: new T('int64', pos, [count])});
    for (let i = 0; i < count; i++) this.la[l][a + i] = Number(r.lookahead.data[i]);
    this.q[l].set(r.q.data, a * d);
    this.k[l].set(r.k.data, a * d);
    this.v[l].set(r.v.data, a * d);
  }

  async advanceLayer(l, final) {
    const m = this.m;
    const d = m.d_model, H = m.num_heads, dh = m.head_dim, lc = m.left_context;
    const done = this.n[l + 1], nin = this.n[l];
    if (done >= nin) return;
    let r = done;
    const need = [];
    while (r < nin) {  // largest finished prefix
      let nd = r + this.la[l][r];
      if (final) nd = Math.min(nd, nin - 1);
      if (nd > nin - 1) break;
      need.push(nd);
      r++;
    }
    if (r === done) return;
    const lo = Math.max(0, done - lc), hi = Math.max(...need) + 1;
    const mq = r - done, w = hi - lo;
    const mask = new Uint8Array(mq * w);
    for (let i = 0; i < mq; i++) {
      const t = done + i;
      for (let j = 0; j < w; j++) {
        const s = lo + j;
        mask[i * w + j] = s >= t - lc && s <= need[i] ? 1 : 0;
      }
    }
    const T = this.ort.Tensor;
    const out = await this.layerOut[l].run({
      q: new T('float32', this.q[l].slice(done * d, r * d), [mq, H, dh]),
      k: new T('float32', this.k[l].slice(lo * d, hi * d), [w, H, dh]),
      v: new T('float32', this.v[l].slice(lo * d, hi * d), [w, H, dh]),
      mask: new T('bool', mask, [mq, w]),
      x: new T('float32', this.x[l].slice(done * d, r * d), [mq, d])});
    await this.append(l + 1, out.y.data, mq);
  }

  // Encoder output [T2 * d] of raw fbank [T * bins], fed chunk rows per step.
  async run(feats, frames, chunk) {
    const m = this.m;
    const d = m.d_model;
    if (!this.cmvnMean) this.cmvnMean = Float32Array.from(m.cmvn_mean);
    this.reset(frames);
    const out = new Float32Array(this.t2 * d);
    let emitted = 0;
    for (let i = 0; i < frames; i += chunk) {
      const nf = Math.min(i + chunk, frames);
      const final = nf === frames;
      await this.subsample(feats, nf);
      for (let l = 0; l < m.num_layers; l++) await this.advanceLayer(l, final);
      const top = this.n[m.num_layers];
      if (top > emitted) {  // the decoder would consume these now
        const rows = this.x[m.num_layers].slice(emitted * d, top * d);
        const r = await this.finalNorm.run({x: new this.ort.Tensor('float32', rows, [top - emitted, d])});
        out.set(r.y.data, emitted * d);
        emitted = top;
      }
    }
    return out;
  }
}

async function streaming(ort, args, opts, feats, frames, reference) {
  const se = await StreamingEncoder.create(ort, args.streaming_dir, opts);
  se.calls = 0;
  const out = await se.run(feats, frames, args.chunk_frames);
  const calls = se.calls;
  // The binding's fixed cost per session.run(): final_norm on one row, timed alone.
  const one = {x: new ort.Tensor('float32', new Float32Array(se.m.d_model), [1, se.m.d_model])};
  const per = await timeRuns(() => se.finalNorm.run(one), 0.2, 50);
  const times = await timeRuns(() => se.run(feats, frames, args.chunk_frames), args.min_seconds,
                               args.min_runs);
  const r = {
    what: `encoder stepped ${args.chunk_frames} fbank frames at a time with K/V caches, ` +
          'dependency-driven (each node once); every model op in onnxruntime (2L+3 graphs), ' +
          'the loop in JavaScript',
    chunk_frames: args.chunk_frames, steps: Math.ceil(frames / args.chunk_frames),
    calls_per_pass: calls, call_overhead_s: per.median_cpu_s, ...times};
  if (reference) r.max_abs_diff_vs_torch = maxAbsDiff(reference, out);
  return r;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = require(path.join(__dirname, '.deps/node/node_modules/onnxruntime-node'));
  const opts = {intraOpNumThreads: args.threads, interOpNumThreads: 1, executionMode: 'sequential',
                graphOptimizationLevel: 'all'};
  const feats = readF32(args.features);
  const frames = feats.length / args.bins;
  const reference = args.reference ? readF32(args.reference) : null;  // torch's offline output
  const result = {
    peer: 'onnxruntime', version: ort.env.versions.node || ort.env.versions.common,
    threads: args.threads, fbank_frames: frames};
  if (args.onnx) result.offline = await offline(ort, args, opts, feats, frames, reference);
  if (args.streaming_dir) result.streaming = await streaming(ort, args, opts, feats, frames, reference);
  console.log(JSON.stringify(result));
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });

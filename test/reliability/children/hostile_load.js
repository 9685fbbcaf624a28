/**
 * Child of the hostile-input tests (test/reliability/hostile): runs one load of an untrusted file in
 * a process of its own, so that a crash shows as a signal, a hang as the parent's timeout, and memory
 * as this process's peak RSS. argv[2] is a JSON spec { op, ... }; prints one JSON line:
 *   { threw, name, code, message, ms, growthKb, unchanged, extra }
 * where growthKb is how far the peak RSS rose during the load and `unchanged` whether the module's
 * weights, optimizer state and step are bit-identical afterwards.
 */
'use strict';
const { Buffer } = require('buffer');
const { createHash } = require('crypto');
const { setInterval, clearInterval } = require('timers');
const lib = require('../../../lib');

const spec = JSON.parse(process.argv[2]);

function moduleHash(ebc) {
  const h = createHash('sha256');
  for (const t of ebc.tables) {
    h.update(Buffer.from(ebc.getWeights(t.name).buffer));
    const state = ebc.optimizerState(t.name);
    for (const k of Object.keys(state).sort()) h.update(k).update(Buffer.from(state[k].buffer));
  }
  h.update(String(ebc.step));
  return h.digest('hex');
}

function makeEbc() {
  const ebc = new lib.EmbeddingBagCollection({ tables: spec.tables, seed: 11 });
  if (spec.trainSteps) {
    // A few real steps so that optimizer state and step are not all zero.
    const t = spec.tables[0];
    const kjt = lib.KeyedJaggedTensor.fromLengths({ keys: [t.name], values: [0, 1], lengths: [2] });
    const grad = new Float32Array(t.embedding_dim).fill(0.5);
    return (async () => {
      for (let i = 0; i < spec.trainSteps; i++) await ebc.backward(kjt, grad);
      return ebc;
    })();
  }
  return Promise.resolve(ebc);
}

async function run() {
  switch (spec.op) {
    case 'loadStateDict':
    case 'restoreSnapshot': {
      const ebc = await makeEbc();
      const before = moduleHash(ebc);
      let error;
      try {
        await ebc[spec.op](spec.path);
      } catch (e) {
        error = e;
      }
      return { error, unchanged: moduleHash(ebc) === before };
    }
    case 'pretrained': {
      // Construction (a table too big to allocate) and `ready` (pretrained tables, vocabularies).
      try {
        await new lib.EmbeddingBagCollection({ tables: spec.tables, seed: 11 }).ready;
      } catch (e) {
        return { error: e };
      }
      return {};
    }
    case 'loadConfig':
      Object.assign(process.env, spec.env || {});
      // Values too big for argv: { NAME: [text, times] }.
      for (const [k, [text, times]] of Object.entries(spec.envRepeat || {})) process.env[k] = text.repeat(times);
      try {
        return { extra: lib.loadConfig(spec.path) };
      } catch (e) {
        return { error: e };
      }
    case 'saveSnapshot': {
      const ebc = await makeEbc();
      try {
        await ebc.saveSnapshot(spec.path);
      } catch (e) {
        return { error: e };
      }
      return {};
    }
    case 'nativeConstruct': {
      // Past the TypeScript validation, straight into the core: what the C++ checks on their own.
      const { native } = require('../../../lib/native.ts');
      try {
        new (native().NativeEmbeddingBagCollection)({ tables: spec.specs, isWeighted: false, seed: 1, device: 'cpu' });
      } catch (e) {
        return { error: e };
      }
      return {};
    }
    case 'restoresThenForward': {
      // Several restores of hostile snapshots at once, then a forward: it must still complete.
      const ebc = await makeEbc();
      const settled = await Promise.allSettled(spec.paths.map((p) => ebc.restoreSnapshot(p)));
      const t = spec.tables[0];
      const kt = await ebc.forward(lib.KeyedJaggedTensor.fromLengths({ keys: [t.name], values: [0], lengths: [1] }));
      return {
        error: settled.find((s) => s.status === 'rejected')?.reason,
        extra: {
          codes: settled.map((s) => (s.status === 'rejected' ? s.reason.code : 'ok')),
          width: kt.values().length,
        },
      };
    }
    case 'eventLoopDuringRestore': {
      const ebc = await makeEbc();
      let last = Date.now();
      let maxGap = 0;
      const timer = setInterval(() => {
        const now = Date.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
      }, 5);
      let error;
      try {
        await ebc.restoreSnapshot(spec.path);
      } catch (e) {
        error = e;
      }
      clearInterval(timer);
      return { error, extra: { maxGapMs: maxGap } };
    }
    default:
      throw new Error(`unknown op ${spec.op}`);
  }
}

const rssBefore = process.resourceUsage().maxRSS;
const start = Date.now();
run().then(
  (r) => {
    const e = r.error;
    process.stdout.write(
      `${JSON.stringify({
        threw: e !== undefined,
        name: e ? e.constructor.name : undefined,
        code: e ? e.code : undefined,
        message: e ? String(e.message) : undefined,
        ms: Date.now() - start,
        growthKb: process.resourceUsage().maxRSS - rssBefore,
        unchanged: r.unchanged,
        extra: r.extra,
      })}\n`,
    );
  },
  (e) => {
    console.error(e);
    process.exit(2);
  },
);

/**
 * No leak: resident memory stays flat over 20,000 forwards with 64 KiB outputs, in a tight
 * synchronous loop of forwardSync (where nothing may wait for the event loop to be freed) and with
 * concurrent async forwards, failing ones included. Measured in a child process run with
 * --expose-gc, so that garbage is collected before each reading.
 */
import { EmbeddingBagCollection } from '../../lib';
import { lastJson, runChild } from '../helpers/reliability';

const MB = 2 ** 20;

test('RSS stays flat over 20,000 forwards (10,000 forwardSync in one burst, 10,000 forward)', async () => {
  // glibc keeps freed heap memory for reuse, which makes RSS wander by tens of MB; with this
  // threshold it returns every freed block of 64 KiB or more (each output) to the OS at once, so
  // RSS tracks live memory and a leaked output shows in full. Ignored by other allocators.
  const r = await runChild('forward_loop.js', ['20000'], {
    nodeArgs: ['--expose-gc'],
    env: { MALLOC_MMAP_THRESHOLD_: String(64 * 1024) },
    timeoutMs: 50000,
  });
  expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({ code: 0, signal: null, stderr: '' });
  const m = lastJson<{
    base: number;
    afterSync: number;
    afterAsync: number;
    calls: number;
    errors: number;
    outputBytes: number;
  }>(r);
  if (process.env.TORCHREC_TEST_VERBOSE) {
    process.stdout.write(
      `RSS base ${(m.base / MB).toFixed(1)} MB; after 10,000 forwardSync +${((m.afterSync - m.base) / MB).toFixed(2)} MB; ` +
        `after 10,000 forward +${((m.afterAsync - m.base) / MB).toFixed(2)} MB (outputs of ${m.outputBytes / 1024} KiB)\n`,
    );
  }
  expect(m.outputBytes).toBe(64 * 1024);
  expect(m.calls).toBe(20000);
  expect(m.errors).toBe(1000);
  // A leaked output would be 10,000 x 64 KiB = 640 MB per phase.
  expect(m.afterSync - m.base).toBeLessThan(30 * MB);
  expect(m.afterAsync - m.base).toBeLessThan(30 * MB);
});

test('results larger than the copy limit (64 MiB) are handed over intact and own their memory', () => {
  // 300,000 x 64 floats = 73 MiB: getWeights hands the tensor's memory over instead of copying it.
  const rows = 300_000;
  const ebc = new EmbeddingBagCollection({
    tables: [{ name: 'big', num_embeddings: rows, embedding_dim: 64 }],
    seed: 5,
  });
  const w = new Float32Array(rows * 64);
  for (let i = 0; i < w.length; i++) w[i] = (i % 1000) / 8;
  ebc.setWeights('big', w);
  const a = ebc.getWeights('big');
  const b = ebc.getWeights('big');
  expect(a.length).toBe(w.length);
  expect(a.buffer).not.toBe(b.buffer);
  expect(Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(w.buffer))).toBe(0);
  a.fill(0);
  expect(b[12345]).toBe(w[12345]);
  ebc.dispose();
  // Still readable after the collection is gone.
  expect(b[w.length - 1]).toBe(w[w.length - 1]);
});

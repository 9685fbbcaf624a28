/**
 * The serving example (examples/serve) through real HTTP on 127.0.0.1: correct embeddings and
 * scores from worker threads sharing one mapping, concurrent requests micro-batched, a new snapshot
 * followed, and bad requests answered with a JSON error, never a crash.
 */
import * as fs from 'fs';
import * as path from 'path';
import { LargeEmbeddings } from '../../lib';
import { startService, Service } from '../../examples/serve/service';
import type { ServeSpec } from '../../examples/serve/model';
import { tmpDir } from '../helpers/tmp';
import { Rng } from '../helpers/random';
import { mappingsOf } from './helpers';

const D = 8;
const SPEC_TABLES = [
  { name: 'user', num_embeddings: 200, embedding_dim: D, data_type: 'fp32' },
  { name: 'tweet', num_embeddings: 100, embedding_dim: D, data_type: 'fp32' },
];
const RELATIONS = ['fav', 'reply'];

interface Truth {
  U: Float32Array;
  W: Float32Array;
  T: Float32Array;
}

/** A trainer-layout snapshot `<saveDir>/<step>` with its translations in trainer_state.json. */
async function saveStep(saveDir: string, step: number, seed: number): Promise<Truth> {
  const m = new LargeEmbeddings({ tables: SPEC_TABLES }, { seed });
  const dir = path.join(saveDir, String(step));
  const rng = new Rng(seed);
  const T = Float32Array.from({ length: RELATIONS.length * D }, () => rng.next() * 2 - 1);
  await m.saveSnapshot(dir, { step });
  fs.writeFileSync(
    path.join(dir, 'trainer_state.json'),
    JSON.stringify({ step, walltime: 0, extra: { translation: Array.from(T) } }),
  );
  const truth = { U: m.ebc.getWeights('user'), W: m.ebc.getWeights('tweet'), T };
  m.ebc.dispose();
  return truth;
}

function score(t: Truth, user: number, tweet: number, rel: number): number {
  let s = 0;
  for (let d = 0; d < D; d++) s += (t.U[user * D + d] + t.T[rel * D + d]) * t.W[tweet * D + d];
  return s;
}

/** A JSON reply: the fields the tests read. */
interface Reply {
  status: number;
  body: { step?: number; embedding?: number[]; scores?: number[]; error: { code: string; message: string } };
}

async function call(url: string, init?: RequestInit): Promise<Reply> {
  const r = await fetch(url, init);
  return { status: r.status, body: (await r.json()) as Reply['body'] };
}

const post = (service: Service, body: unknown) =>
  call(`${service.url}/score`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('examples/serve over HTTP', () => {
  let saveDir: string;
  let service: Service;
  let truth: Truth;
  beforeAll(async () => {
    saveDir = tmpDir('serve');
    truth = await saveStep(saveDir, 5, 1);
    const spec: ServeSpec = { saveDir, tables: SPEC_TABLES, relations: RELATIONS, intervalMs: 50 };
    service = await startService({ spec, workers: 2, maxWaitMs: 1 });
  }, 120000);
  afterAll(async () => service?.close());

  test('GET /embedding and POST /score answer the snapshot exactly', async () => {
    const e = await call(`${service.url}/embedding?user=17`);
    expect(e.status).toBe(200);
    expect(e.body).toEqual({ step: 5, embedding: Array.from(truth.U.subarray(17 * D, 18 * D)) });
    const s = await post(service, { user: 3, tweets: [0, 5, 99], relation: 'reply' });
    expect(s.status).toBe(200);
    expect(s.body).toEqual({ step: 5, scores: [0, 5, 99].map((t) => score(truth, 3, t, 1)) });
    const s0 = await post(service, { user: 3, tweets: [7] }); // relation defaults to the first
    expect(s0.body.scores).toEqual([score(truth, 3, 7, 0)]);
    // Both worker threads serve from one mapping of each file (they live in this process).
    const file = path.join(saveDir, '5', '0', 'model', 'ebc.embedding_bags.user.weight');
    expect(fs.existsSync(file)).toBe(true);
    expect(mappingsOf(file)).toBe(1);
  });

  test('300 concurrent requests are micro-batched into far fewer forwards, all answered correctly', async () => {
    const before = service.batcher.batches;
    const rng = new Rng(9);
    const asks = Array.from({ length: 300 }, (_, i) => ({
      user: rng.int(0, 199),
      tweets: Array.from({ length: 1 + (i % 5) }, () => rng.int(0, 99)),
      relation: i % 2,
    }));
    const answers = await Promise.all(asks.map((a) => post(service, a)));
    answers.forEach((r, i) => {
      expect(r.status).toBe(200);
      expect(r.body.scores).toEqual(asks[i].tweets.map((t) => score(truth, asks[i].user, t, asks[i].relation)));
    });
    expect(service.batcher.batches - before).toBeLessThan(300);
  });

  test('bad requests get 400/404/405/413 with a JSON error, and the service keeps serving', async () => {
    const cases: [Promise<Reply>, number, RegExp][] = [
      [call(`${service.url}/embedding?user=200`), 400, /user must be an integer id in \[0, 200\)/],
      [call(`${service.url}/embedding?user=-1`), 400, /user/],
      [call(`${service.url}/embedding`), 400, /user/],
      [call(`${service.url}/embedding?user=abc`), 400, /user/],
      [post(service, '{not json'), 400, /not valid JSON/],
      [post(service, '[1,2]'), 400, /JSON object/],
      [post(service, { user: 1, tweets: [] }), 400, /tweets/],
      [post(service, { user: 1, tweets: [1, 'x'] }), 400, /tweets\[1\]/],
      [post(service, { user: 1, tweets: [100] }), 400, /tweets\[0\]/],
      [post(service, { user: 1.5, tweets: [1] }), 400, /user/],
      [post(service, { user: 1, tweets: [1], relation: 'like' }), 400, /relation must be one of fav, reply/],
      [post(service, { user: 1, tweets: [1], extra: 1 }), 400, /unknown field/],
      [post(service, 'x'.repeat(2 << 20)), 413, /over/],
      [call(`${service.url}/score`), 405, /POST/],
      [call(`${service.url}/nope`), 404, /no route/],
    ];
    for (const [p, status, message] of cases) {
      const r = await p;
      expect({ status: r.status, code: typeof r.body.error.code }).toEqual({ status, code: 'string' });
      expect(r.body.error.message).toMatch(message);
    }
    expect((await call(`${service.url}/embedding?user=1`)).status).toBe(200);
  });

  test('a new snapshot in save_dir is followed: answers switch to it', async () => {
    const next = await saveStep(saveDir, 9, 2);
    const end = Date.now() + 30000;
    let r = await post(service, { user: 4, tweets: [2] });
    while (r.body.step !== 9 && Date.now() < end) {
      await new Promise((res) => setTimeout(res, 50));
      r = await post(service, { user: 4, tweets: [2] });
    }
    expect(r.body).toEqual({ step: 9, scores: [score(next, 4, 2, 0)] });
  });
});

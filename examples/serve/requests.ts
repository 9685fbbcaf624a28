/**
 * HTTP requests of the serving example → queries, or an HttpError (answered 400/404/405/413 with a
 * JSON body {error: {code, message}}). Every id is checked against the tables here, so a bad request
 * never reaches a forward (and never fails a whole micro-batch).
 */
import type { IncomingMessage } from 'http';
import type { Query, ServeSpec } from './model';

export const MAX_BODY_BYTES = 1 << 20;
export const MAX_TWEETS = 1000;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const bad = (message: string): HttpError => new HttpError(400, 'ERR_BAD_REQUEST', message);

function checkId(x: unknown, what: string, rows: number): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0 || x >= rows) {
    throw bad(`${what} must be an integer id in [0, ${rows}), got ${JSON.stringify(x) ?? String(x)}`);
  }
  return x;
}

/** The request's query; the body is read only for POST /score. */
export async function parseRequest(req: IncomingMessage, spec: ServeSpec): Promise<Query> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const [users, tweets] = spec.tables.map((t) => t.num_embeddings);
  if (url.pathname === '/embedding') {
    if (req.method !== 'GET') throw new HttpError(405, 'ERR_METHOD', 'use GET /embedding?user=ID');
    const raw = url.searchParams.get('user');
    if (raw === null || !/^\d+$/.test(raw)) throw bad(`user must be given as ?user=<integer id>, got ${raw ?? 'none'}`);
    return { kind: 'embedding', user: checkId(Number(raw), 'user', users) };
  }
  if (url.pathname === '/score') {
    if (req.method !== 'POST') throw new HttpError(405, 'ERR_METHOD', 'use POST /score {user, tweets[]}');
    const body = await readJson(req);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw bad('the body must be a JSON object {user, tweets[], relation?}');
    }
    const o = body as Record<string, unknown>;
    const unknown = Object.keys(o).filter((k) => !['user', 'tweets', 'relation'].includes(k));
    if (unknown.length > 0) throw bad(`unknown field(s) ${unknown.join(', ')}; expected {user, tweets[], relation?}`);
    if (!Array.isArray(o.tweets) || o.tweets.length === 0 || o.tweets.length > MAX_TWEETS) {
      throw bad(`tweets must be a non-empty array of at most ${MAX_TWEETS} tweet ids`);
    }
    const relation = o.relation === undefined ? 0 : relationIndex(o.relation, spec.relations);
    return {
      kind: 'score',
      user: checkId(o.user, 'user', users),
      tweets: o.tweets.map((t, i) => checkId(t, `tweets[${i}]`, tweets)),
      relation,
    };
  }
  throw new HttpError(404, 'ERR_NOT_FOUND', `no route ${url.pathname}; use GET /embedding?user=ID or POST /score`);
}

function relationIndex(x: unknown, relations: string[]): number {
  if (typeof x === 'string' && relations.includes(x)) return relations.indexOf(x);
  if (typeof x === 'number' && Number.isSafeInteger(x) && x >= 0 && x < relations.length) return x;
  throw bad(`relation must be one of ${relations.join(', ')} (or its index), got ${JSON.stringify(x)}`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'ERR_TOO_LARGE', `the body is over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (e) {
    throw bad(`the body is not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The collectives of a ProcessGroup on typed arrays, for tests and for the sharded collection (not
 * exported from the package root). Every rank must call the same collectives in the same order;
 * each call is copied in, runs on the group's own thread, and resolves with new arrays of the
 * input's type. Uint16Array carries float16 bits.
 */
import { TorchrecError } from '../errors';
import { ownPromise } from '../native';
import { CollectiveArray } from './native_process_group';
import { ProcessGroup, nativeGroup } from './process_group';

export type { CollectiveArray };

type ArrayConstructorOf<T> = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => T;

/** Native arrays come from the addon's realm; re-view them with the caller's constructor (see lib/native.ts ownRealm). */
function like<T extends CollectiveArray>(input: T, out: CollectiveArray): T {
  const C = input.constructor as ArrayConstructorOf<T>;
  if (out instanceof C) return out as T;
  return new C(out.buffer, out.byteOffset, out.length);
}

function checkRowElems(method: string, rowElems: number): void {
  if (!Number.isSafeInteger(rowElems) || rowElems < 1) {
    throw new TorchrecError('ERR_INVALID_ARGUMENT', `${method}: rowElems must be a positive integer, got ${rowElems}`);
  }
}

/** Runs `body` so that a synchronous throw becomes a rejection, as for every async method here. */
async function call<T>(body: () => Promise<T>): Promise<T> {
  return body();
}

/** Element-wise sum over the ranks. */
export function allreduce<T extends CollectiveArray>(pg: ProcessGroup, data: T): Promise<T> {
  return call(async () => like(data, await ownPromise(nativeGroup(pg, 'allreduce').allreduce(data))));
}

/** Every rank passes an array of the same length; resolves with one array per rank, in rank order. */
export function allgather<T extends CollectiveArray>(pg: ProcessGroup, data: T): Promise<T[]> {
  return call(async () => {
    const all = like(data, await ownPromise(nativeGroup(pg, 'allgather').allgather(data)));
    const n = data.length;
    return Array.from({ length: pg.worldSize }, (_, r) => all.subarray(r * n, (r + 1) * n) as T);
  });
}

/** Ranks may pass different numbers of rows (of rowElems elements); resolves with each rank's rows. */
export function allgatherv<T extends CollectiveArray>(pg: ProcessGroup, data: T, rowElems = 1): Promise<T[]> {
  return call(async () => {
    checkRowElems('allgatherv', rowElems);
    const got = await ownPromise(nativeGroup(pg, 'allgatherv').allgatherv(data, rowElems));
    return split(like(data, got.data), got.counts, rowElems);
  });
}

/**
 * Sends inputSplits[r] rows (of rowElems elements) of `data`, in order, to rank r; resolves with the
 * rows received from every rank concatenated in rank order and how many came from each. Without
 * outputSplits the split sizes are exchanged first (TorchRec's "counts first").
 */
export function alltoall<T extends CollectiveArray>(
  pg: ProcessGroup,
  data: T,
  inputSplits: number[],
  o: { outputSplits?: number[]; rowElems?: number } = {},
): Promise<{ data: T; splits: number[] }> {
  return call(async () => {
    const rowElems = o.rowElems ?? 1;
    checkRowElems('alltoall', rowElems);
    const got = await ownPromise(
      nativeGroup(pg, 'alltoall').alltoall(data, inputSplits, o.outputSplits ?? null, rowElems),
    );
    return { data: like(data, got.data), splits: got.counts };
  });
}

/** Every rank passes an array of the same length; resolves with root's. */
export function broadcast<T extends CollectiveArray>(pg: ProcessGroup, data: T, root: number): Promise<T> {
  return call(async () => {
    if (!Number.isSafeInteger(root) || root < 0 || root >= pg.worldSize) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        `broadcast: root must be a rank in [0, ${pg.worldSize}), got ${root}`,
      );
    }
    return like(data, await ownPromise(nativeGroup(pg, 'broadcast').broadcast(data, root)));
  });
}

/** The first failure of the group (what made it unusable), or null. */
export function failure(pg: ProcessGroup): string | null {
  return nativeGroup(pg, 'failure').failure();
}

function split<T extends CollectiveArray>(all: T, counts: number[], rowElems: number): T[] {
  const out: T[] = [];
  let at = 0;
  for (const c of counts) {
    out.push(all.subarray(at, at + c * rowElems) as T);
    at += c * rowElems;
  }
  return out;
}

/**
 * ProcessGroup: a c10d process group (TCPStore + ProcessGroupGloo from libtorch) joining this process
 * to the other ranks of a job, as torch.distributed.init_process_group does. Options default from
 * torchrun's environment, so a script started by `torchrec-node-run` or `torchrun --no_python node`
 * needs none. The sharded collection rides on it; the collectives themselves stay internal
 * (lib/distributed/collectives.ts).
 */
import { TorchrecError } from '../errors';
import { ownPromise, native } from '../native';
import { ConfigError, Fields, Validator, checkNumber, describe, readObject } from '../config/validate';
import { distributedAddon, NativeProcessGroup, ProcessGroupTraffic } from './native_process_group';

export type { ProcessGroupTraffic };

export type ProcessGroupBackend = 'gloo' | 'nccl';

export interface ProcessGroupOptions {
  backend?: ProcessGroupBackend;
  rank?: number;
  worldSize?: number;
  localRank?: number;
  localWorldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /** Bounds init and every collective; default 300000 (c10d's own default is 30 minutes). */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 300000;

const OPTION_KEYS = [
  'backend',
  'rank',
  'worldSize',
  'localRank',
  'localWorldSize',
  'masterAddr',
  'masterPort',
  'timeoutMs',
] as const;

interface Resolved {
  backend: ProcessGroupBackend;
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  agentStore: boolean;
  restartCount: number;
}

/** An option, else its torchrun variable (an integer), else `fallback`; issues name where it came from. */
function intOption(
  v: Validator,
  o: Fields,
  key: string,
  envName: string | null,
  rule: 'nonNegativeInt' | 'positiveInt',
  fallback: number | undefined,
): number | undefined {
  if (o[key] !== undefined) return checkNumber(v, o[key], key, rule);
  const raw = envName === null ? undefined : process.env[envName];
  if (raw === undefined || raw === '') return fallback;
  const n = /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  return checkNumber(v, Number.isSafeInteger(n) ? n : raw, `${key} (from ${envName}=${describe(raw)})`, rule);
}

function resolve(raw: unknown): Resolved {
  const v = new Validator();
  const o = readObject(v, raw ?? {}, '', OPTION_KEYS) ?? {};
  const backend = o.backend ?? 'gloo';
  if (backend !== 'gloo' && backend !== 'nccl') v.add('backend', `must be "gloo" or "nccl", got ${describe(backend)}`);
  const worldSize = intOption(v, o, 'worldSize', 'WORLD_SIZE', 'positiveInt', 1);
  const rank = intOption(v, o, 'rank', 'RANK', 'nonNegativeInt', 0);
  const localWorldSize = intOption(v, o, 'localWorldSize', 'LOCAL_WORLD_SIZE', 'positiveInt', worldSize);
  const localRank = intOption(v, o, 'localRank', 'LOCAL_RANK', 'nonNegativeInt', rank);
  // Port 0 lets a single-process group's store pick a free port; several ranks must agree on one.
  const port = intOption(v, o, 'masterPort', 'MASTER_PORT', 'nonNegativeInt', worldSize === 1 ? 0 : undefined);
  const timeoutMs = intOption(v, o, 'timeoutMs', null, 'positiveInt', DEFAULT_TIMEOUT_MS);
  const addr: unknown = o.masterAddr ?? process.env.MASTER_ADDR ?? '127.0.0.1';
  const masterAddr = typeof addr === 'string' ? addr.trim() : '';
  if (masterAddr === '') {
    const where = o.masterAddr !== undefined ? 'masterAddr' : 'masterAddr (from MASTER_ADDR)';
    v.add(where, `must be a host name or address, got ${describe(addr)}`);
  }
  if (worldSize !== undefined && rank !== undefined && rank >= worldSize) {
    v.add('rank', `must be below worldSize (${worldSize}), got ${rank}`);
  }
  if (worldSize !== undefined && localWorldSize !== undefined && localWorldSize > worldSize) {
    v.add('localWorldSize', `must not exceed worldSize (${worldSize}), got ${localWorldSize}`);
  }
  if (localWorldSize !== undefined && localRank !== undefined && localRank >= localWorldSize) {
    v.add('localRank', `must be below localWorldSize (${localWorldSize}), got ${localRank}`);
  }
  if (port === undefined && v.count === 0) {
    v.add('masterPort', `is required when worldSize > 1: pass masterPort or set MASTER_PORT`);
  } else if (port !== undefined && (port > 65535 || (port === 0 && worldSize !== 1))) {
    v.add('masterPort', `must be in [1, 65535]${worldSize === 1 ? ' (or 0)' : ''}, got ${port}`);
  }
  if (v.count > 0) throw new ConfigError('ProcessGroup options', v.issues);
  return {
    backend: backend as ProcessGroupBackend,
    rank: rank as number,
    worldSize: worldSize as number,
    localRank: localRank as number,
    localWorldSize: localWorldSize as number,
    masterAddr,
    masterPort: port as number,
    timeoutMs: timeoutMs as number,
    agentStore: process.env.TORCHELASTIC_USE_AGENT_STORE === 'True',
    restartCount: Number(process.env.TORCHELASTIC_RESTART_COUNT ?? 0) || 0,
  };
}

const natives = new WeakMap<ProcessGroup, NativeProcessGroup>();

/** The native group behind `pg`, for the collectives and the sharded collection; ERR_DISPOSED once destroyed. */
export function nativeGroup(pg: ProcessGroup, method: string): NativeProcessGroup {
  const handle = natives.get(pg);
  if (handle === undefined) throw new TorchrecError('ERR_DISPOSED', `${method}: the process group was destroyed`);
  return handle;
}

export class ProcessGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  readonly backend: string;
  /** Bounds every collective of this group. */
  readonly timeoutMs: number;

  private constructor(r: Resolved, handle: NativeProcessGroup) {
    this.rank = r.rank;
    this.worldSize = r.worldSize;
    this.localRank = r.localRank;
    this.localWorldSize = r.localWorldSize;
    this.backend = r.backend;
    this.timeoutMs = r.timeoutMs;
    natives.set(this, handle);
  }

  /**
   * Joins the group; resolves once every rank has joined. ERR_INVALID_CONFIG for bad options or
   * environment, ERR_DEVICE for 'nccl' without CUDA, ERR_DISTRIBUTED when the ranks do not all
   * join within timeoutMs (or this build has no gloo).
   */
  static async init(o?: ProcessGroupOptions): Promise<ProcessGroup> {
    const r = resolve(o);
    if (r.backend === 'nccl' && !native().buildInfo.cuda) {
      throw new TorchrecError(
        'ERR_DEVICE',
        "ProcessGroup backend 'nccl' needs a CUDA build of libtorch; this addon has none (buildInfo().cuda is false): use 'gloo'",
      );
    }
    if (r.backend === 'nccl') {
      throw new TorchrecError('ERR_DEVICE', "ProcessGroup backend 'nccl' is not implemented yet: use 'gloo'");
    }
    const { NativeProcessGroup: Native } = distributedAddon();
    const handle = new Native(r);
    try {
      await ownPromise(handle.connect());
    } catch (e) {
      handle.destroy();
      throw e;
    }
    return new ProcessGroup(r, handle);
  }

  /** Resolves once every rank has called it; ERR_DISTRIBUTED if one fails or does not arrive within timeoutMs. */
  barrier(): Promise<void> {
    try {
      return ownPromise(nativeGroup(this, 'barrier').barrier());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Element-wise sum of `data` over the ranks, resolved on every rank as a new Float32Array: the
   * all-reduce a model's small dense parameters need between steps (what DDP does for TorchRec's dense
   * layers). Collective: every rank passes an array of the same length, in the same call order as the
   * group's other collectives. ERR_DISTRIBUTED when a rank fails or does not arrive within timeoutMs.
   */
  async allreduce(data: Float32Array): Promise<Float32Array> {
    if (!(data instanceof Float32Array)) {
      throw new TorchrecError('ERR_DTYPE', `allreduce: data must be a Float32Array, got ${describe(data)}`);
    }
    const out = await ownPromise(nativeGroup(this, 'allreduce').allreduce(data));
    // The addon's arrays come from its own realm (see lib/native.ts): re-view them in the caller's.
    return new Float32Array(out.buffer, out.byteOffset, out.length);
  }

  /**
   * What this rank has exchanged with the others since it joined (every collective: the sharded
   * collections' and allreduce/barrier): all-to-all bytes to and from other ranks exactly;
   * allreduce/allgather/broadcast as their ring algorithms move them (Gloo keeps no byte counts).
   * Sample it before and after a step to see what the step moved. Zeros after destroy.
   */
  traffic(): ProcessGroupTraffic {
    return natives.get(this)?.traffic() ?? { bytesSent: 0, bytesReceived: 0, collectives: 0 };
  }

  /**
   * Leaves the group: calls not started yet reject with ERR_DISPOSED, one in progress finishes, then
   * the connections (and on rank 0 the store) close. Idempotent. Every rank should call it once its
   * last collective has resolved.
   */
  destroy(): void {
    const handle = natives.get(this);
    natives.delete(this);
    handle?.destroy();
  }

  get destroyed(): boolean {
    return !natives.has(this);
  }
}

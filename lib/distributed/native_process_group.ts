/**
 * The native process group's surface (native/binding/process_group_binding.cc), declared here next
 * to its only user rather than in lib/native.ts, and reached through the same lazily loaded addon.
 */
import { native } from '../native';

/** The arrays collectives move. Uint16Array carries float16 bits (Node has no Float16Array yet). */
export type CollectiveArray =
  Float32Array | Float64Array | Int32Array | BigInt64Array | Int8Array | Uint8Array | Uint16Array;

/** See ProcessGroup.traffic. */
export interface ProcessGroupTraffic {
  bytesSent: number;
  bytesReceived: number;
  collectives: number;
}

export interface NativeProcessGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  timeoutMs: number;
  agentStore: boolean;
  restartCount: number;
}

/** Every call runs on the group's own thread, in call order; arrays are copied in and out. */
export interface NativeProcessGroup {
  connect(): Promise<void>;
  barrier(): Promise<void>;
  allreduce<T extends CollectiveArray>(data: T): Promise<T>;
  allgather<T extends CollectiveArray>(data: T): Promise<T>;
  allgatherv<T extends CollectiveArray>(data: T, rowElems: number): Promise<{ data: T; counts: number[] }>;
  alltoall<T extends CollectiveArray>(
    data: T,
    inputSplits: number[],
    outputSplits: number[] | null,
    rowElems: number,
  ): Promise<{ data: T; counts: number[] }>;
  broadcast<T extends CollectiveArray>(data: T, root: number): Promise<T>;
  destroy(): void;
  failure(): string | null;
  traffic(): ProcessGroupTraffic;
}

interface DistributedAddon {
  NativeProcessGroup: new (o: NativeProcessGroupOptions) => NativeProcessGroup;
  glooAvailable: boolean;
}

export function distributedAddon(): DistributedAddon {
  return native() as unknown as DistributedAddon;
}

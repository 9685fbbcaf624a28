/**
 * The values the state-dict unpickler builds: plain data, allow-listed globals, and torch's storage
 * and tensor records, never live Python objects.
 */
import { Dtype } from './dtypes';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
export class PyList {
  constructor(readonly items: PyValue[]) {}
}
export type PyKey = string | number | bigint | boolean | null;
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** Instance attributes set by BUILD (a state dict's `_metadata`). */
  attrs: PyValue | undefined;
  constructor(readonly ordered: boolean) {}
}
/** A resolved, allow-listed global. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}
/** A storage named by a BINPERSID ('storage', <class>, key, location, numel) record. */
export class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: Dtype,
    readonly location: string,
    readonly numel: number,
  ) {}
}
/** torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]). */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyTuple
  | PyList
  | PyDict
  | PyGlobal
  | StorageRef
  | TensorRef;

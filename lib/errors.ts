/**
 * The one error type of the public API. `code` is stable and meant for programs; `message` is for
 * people and names the offending field, feature, table or argument.
 */
export type ErrorCode =
  | 'ERR_INVALID_CONFIG'
  | 'ERR_INVALID_KJT'
  | 'ERR_INDEX_OUT_OF_RANGE'
  | 'ERR_MISSING_FEATURE'
  | 'ERR_INVALID_MODE'
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_DEVICE'
  | 'ERR_CHECKPOINT'
  | 'ERR_DISPOSED'
  | 'ERR_DISTRIBUTED'
  | 'ERR_DATA'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_NATIVE_LOAD'
  | 'ERR_INTERNAL';

export class TorchrecError extends Error {
  readonly code: ErrorCode | string;

  constructor(code: ErrorCode | string, message: string) {
    super(message);
    this.code = code;
    this.name = 'TorchrecError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

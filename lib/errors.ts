/**
 * The one error type of the public API. `code` is stable and meant for programs; `message` is for
 * people and names the offending field, feature, table or argument.
 */
export const ERROR_CODES = [
  'ERR_INVALID_CONFIG',
  'ERR_INVALID_KJT',
  'ERR_INDEX_OUT_OF_RANGE',
  'ERR_MISSING_FEATURE',
  'ERR_INVALID_MODE',
  'ERR_SHAPE',
  'ERR_DTYPE',
  'ERR_DEVICE',
  'ERR_CHECKPOINT',
  'ERR_DISPOSED',
  /** A process group's communication failed: a peer died, stopped answering, or the group is broken. */
  'ERR_DISTRIBUTED',
  'ERR_DATA',
  'ERR_INVALID_ARGUMENT',
  /** A NaN or infinity where finite values are needed: KJT weights, gradients, optimizer state. */
  'ERR_NON_FINITE',
  /** A table, its optimizer state or a buffer that cannot be allocated, on any device. */
  'ERR_OUT_OF_MEMORY',
  'ERR_NATIVE_LOAD',
  'ERR_INTERNAL',
] as const;

/** Every code the library throws; native/core/error.cc's names are checked against it by a test. */
export type ErrorCode = (typeof ERROR_CODES)[number];

export class TorchrecError extends Error {
  readonly code: ErrorCode | string;
  /** Structured facts about some failures (e.g. a repeated vocabulary id's positions), for programs. */
  declare readonly details?: Record<string, number>;

  constructor(code: ErrorCode | string, message: string) {
    super(message);
    this.code = code;
    this.name = 'TorchrecError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

/**
 * The argument checks of EmbeddingBagCollection's calls: each rule and its message in one place.
 * They run on the JS thread before anything is submitted, so a bad call rejects with no state changed.
 */
import { constants as bufferConstants } from 'buffer';
import { types } from 'util';
import { hint } from './config/suggest';
import { TorchrecError } from './errors';
import { KeyedJaggedTensor } from './kjt';

export function checkKjt(kjt: unknown, method: string): KeyedJaggedTensor {
  if (!(kjt instanceof KeyedJaggedTensor)) {
    throw new TorchrecError(
      'ERR_INVALID_KJT',
      `${method} expects a KeyedJaggedTensor (build one with KeyedJaggedTensor.fromLengths or fromOffsets)`,
    );
  }
  return kjt;
}

/** backward's gradient: a Float32Array of [batch size][width] (the sum of the output dims). */
export function checkGradient(kjt: KeyedJaggedTensor, grad: unknown, width: number): void {
  if (!types.isFloat32Array(grad)) {
    const got = ArrayBuffer.isView(grad)
      ? Object.prototype.toString.call(grad).slice(8, -1)
      : Array.isArray(grad)
        ? 'an Array'
        : grad === null
          ? 'null'
          : typeof grad;
    throw new TorchrecError('ERR_DTYPE', `backward: gradOutput must be a Float32Array, got ${got}`);
  }
  const expected = kjt.stride() * width;
  if (grad.length !== expected) {
    throw new TorchrecError(
      'ERR_SHAPE',
      `backward: gradOutput has ${grad.length} values, expected [${kjt.stride()}][${width}] = ${expected} ` +
        '(batch size x the sum of the output dims, row-major like KeyedTensor.values())',
    );
  }
}

/** The pooled output is one Node buffer, at most buffer.constants.MAX_LENGTH bytes (4 GiB on Node 20). */
export function checkOutputSize(kjt: KeyedJaggedTensor, width: number, method: string): KeyedJaggedTensor {
  const bytes = kjt.stride() * width * Float32Array.BYTES_PER_ELEMENT;
  if (bytes > bufferConstants.MAX_LENGTH) {
    throw new TorchrecError(
      'ERR_SHAPE',
      `${method}: the output would be [${kjt.stride()}][${width}] float32 values, ${bytes} bytes, more than ` +
        `the ${bufferConstants.MAX_LENGTH} bytes one buffer can hold; split the batch`,
    );
  }
  return kjt;
}

export function checkTableName(tables: readonly { name: string }[], table: unknown, method: string): void {
  const known = tables.map((t) => t.name);
  if (typeof table !== 'string' || !known.includes(table)) {
    throw new TorchrecError(
      'ERR_INVALID_ARGUMENT',
      `${method}: no table named ${JSON.stringify(table)}${typeof table === 'string' ? hint(table, known) : ''} ` +
        `(tables: ${known.join(', ')})`,
    );
  }
}

/**
 * TorchRec's KeyedTensor: the pooled output, one row per sample holding every key's block side by
 * side (`values()` is row-major [B][sum(lengthPerKey)]). It owns its Float32Array.
 */
export class KeyedTensor {
  private readonly offsets: number[];

  constructor(
    private readonly keyList: string[],
    private readonly lengths: number[],
    private readonly data: Float32Array,
    private readonly batchSize: number,
  ) {
    this.offsets = [0];
    for (const len of lengths) this.offsets.push(this.offsets[this.offsets.length - 1] + len);
  }

  keys(): string[] {
    return [...this.keyList];
  }

  lengthPerKey(): number[] {
    return [...this.lengths];
  }

  /** Column where each key's block starts, plus the total width at the end (TorchRec's offset_per_key). */
  offsetPerKey(): number[] {
    return [...this.offsets];
  }

  stride(): number {
    return this.batchSize;
  }

  values(): Float32Array {
    return this.data;
  }

  /** Each key's [B][D] block as its own Float32Array. */
  toDict(): Record<string, Float32Array> {
    const width = this.offsets[this.offsets.length - 1];
    const out: Record<string, Float32Array> = {};
    this.keyList.forEach((key, k) => {
      const dim = this.lengths[k];
      const start = this.offsets[k];
      const block = new Float32Array(this.batchSize * dim);
      for (let b = 0; b < this.batchSize; b++) {
        block.set(this.data.subarray(b * width + start, b * width + start + dim), b * dim);
      }
      // defineProperty, not assignment: a feature named __proto__ must become a key, not the prototype.
      Object.defineProperty(out, key, { value: block, enumerable: true, writable: true, configurable: true });
    });
    return out;
  }
}

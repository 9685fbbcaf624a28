/**
 * TorchRec's EmbeddingBagCollection: several embedding tables, each read by one or more features of
 * a KeyedJaggedTensor, pooled per bag into a KeyedTensor. Lookups run in the native core; `forward`
 * runs off the JS thread.
 */
import { EmbeddingBagConfig } from './config/embedding';
import { EmbeddingOptimizerConfig } from './config/optimizer';
import { EmbeddingBagCollectionOptions, nativeTableSpec, resolveEbcOptions } from './ebc_options';
import { Mode } from './enums';
import { TorchrecError } from './errors';
import { KeyedJaggedTensor } from './kjt';
import { KeyedTensor } from './keyed_tensor';
import { native, NativeEmbeddingBagCollection, ownRealm } from './native';

export type { EmbeddingBagCollectionOptions } from './ebc_options';

const MODES: string[] = Object.values(Mode);

export class EmbeddingBagCollection {
  readonly tables: readonly EmbeddingBagConfig[];
  readonly isWeighted: boolean;
  readonly device: string;
  readonly optimizer?: EmbeddingOptimizerConfig;
  /** Resolves once `pretrained` tables are loaded (none are in this version, so it is resolved). */
  readonly ready: Promise<void> = Promise.resolve();
  private handle: NativeEmbeddingBagCollection | null;
  private readonly keys: string[];
  private readonly dims: number[];
  private currentMode: Mode = Mode.TRAIN;
  private steps = 0;

  constructor(options: EmbeddingBagCollectionOptions) {
    const o = resolveEbcOptions(options);
    this.tables = Object.freeze(o.tables);
    this.isWeighted = o.isWeighted;
    this.device = o.device;
    this.optimizer = o.optimizer;
    this.handle = new (native().NativeEmbeddingBagCollection)(o.tables.map(nativeTableSpec), o.isWeighted, o.seed);
    this.keys = this.handle.outputKeys();
    this.dims = this.handle.outputDims();
  }

  /** Output keys in order: tables in order, then each table's features (`feature@table` if shared). */
  outputKeys(): string[] {
    return [...this.keys];
  }

  get step(): number {
    return this.steps;
  }

  get mode(): Mode {
    return this.currentMode;
  }

  set mode(m: Mode) {
    this.setMode(m);
  }

  setMode(m: Mode): void {
    if (!MODES.includes(m as string)) {
      throw new TorchrecError('ERR_INVALID_MODE', `mode must be one of ${MODES.join(', ')}, got ${String(m)}`);
    }
    this.currentMode = m;
  }

  forward(kjt: KeyedJaggedTensor): Promise<KeyedTensor> {
    let pending: Promise<Float32Array>;
    try {
      pending = this.live('forward').forward(...checkKjt(kjt).nativeArgs());
    } catch (e) {
      return Promise.reject(e);
    }
    const stride = kjt.stride();
    return pending.then((values) => new KeyedTensor(this.keys, this.dims, ownRealm(values), stride));
  }

  forwardSync(kjt: KeyedJaggedTensor): KeyedTensor {
    const values = this.live('forwardSync').forwardSync(...checkKjt(kjt).nativeArgs());
    return new KeyedTensor(this.keys, this.dims, ownRealm(values), kjt.stride());
  }

  /** A row-major [N][D] float32 copy of a table (fp16 tables widened). */
  getWeights(table: string): Float32Array {
    return ownRealm(this.live('getWeights').getWeights(table));
  }

  /** Replaces a table's weights from row-major [N][D] data (rounded to fp16 for fp16 tables). */
  setWeights(table: string, data: Float32Array | readonly number[]): void {
    const handle = this.live('setWeights');
    const array = Array.isArray(data) ? Float32Array.from(data as number[]) : data;
    handle.setWeights(table, array as Float32Array);
  }

  /** Frees the tables now. Forwards already started finish; any later call is ERR_DISPOSED. */
  dispose(): void {
    this.handle?.dispose();
    this.handle = null;
  }

  private live(method: string): NativeEmbeddingBagCollection {
    if (!this.handle) {
      throw new TorchrecError('ERR_DISPOSED', `${method}() called on a disposed EmbeddingBagCollection`);
    }
    return this.handle;
  }
}

function checkKjt(kjt: unknown): KeyedJaggedTensor {
  if (!(kjt instanceof KeyedJaggedTensor)) {
    throw new TorchrecError(
      'ERR_INVALID_KJT',
      'forward expects a KeyedJaggedTensor (build one with KeyedJaggedTensor.fromLengths or fromOffsets)',
    );
  }
  return kjt;
}

/**
 * the-algorithm-ml's LargeEmbeddings (common/modules/embedding/embedding.py): an
 * EmbeddingBagCollection built from a LargeEmbeddingsConfig, followed by `surgeryCutPoint`, an
 * identity hook that serving code replaces to post-process the pooled embeddings.
 */
import { LargeEmbeddingsConfig } from './config/embedding';
import { EmbeddingBagCollection } from './ebc';
import { TorchrecError } from './errors';
import { KeyedJaggedTensor } from './kjt';
import { KeyedTensor } from './keyed_tensor';

export interface LargeEmbeddingsOptions {
  device?: string;
  seed?: number;
}

export class LargeEmbeddings {
  readonly config: LargeEmbeddingsConfig;
  readonly ebc: EmbeddingBagCollection;
  surgeryCutPoint: (kt: KeyedTensor) => KeyedTensor = (kt) => kt;

  constructor(config: LargeEmbeddingsConfig | object, o: LargeEmbeddingsOptions = {}) {
    this.config = config instanceof LargeEmbeddingsConfig ? config : new LargeEmbeddingsConfig(config);
    if (o === null || typeof o !== 'object') {
      throw new TorchrecError('ERR_INVALID_CONFIG', 'LargeEmbeddings options must be an object like { device, seed }');
    }
    this.ebc = new EmbeddingBagCollection({
      tables: this.config.tables,
      device: o.device,
      seed: o.seed,
      optimizer: this.config.optimizer,
    });
  }

  get ready(): Promise<void> {
    return this.ebc.ready;
  }

  async forward(kjt: KeyedJaggedTensor): Promise<KeyedTensor> {
    return this.surgeryCutPoint(await this.ebc.forward(kjt));
  }

  forwardSync(kjt: KeyedJaggedTensor): KeyedTensor {
    return this.surgeryCutPoint(this.ebc.forwardSync(kjt));
  }
}

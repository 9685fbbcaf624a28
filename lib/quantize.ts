/**
 * ebc.quantize(): which tables of a collection become which row-wise quantized type, as new table
 * configs (TorchRec's quantize_embeddings on an EBC). The weights move in EmbeddingBagCollection.quantize,
 * through setWeights, whose float32 path in the core is FBGEMM's quantizer.
 */
import { EmbeddingBagConfig } from './config/embedding';
import { isQuantized } from './config/quantized';
import { hint } from './config/suggest';
import { DataType } from './enums';
import { TorchrecError } from './errors';

const TARGETS = [DataType.INT8, DataType.INT4, DataType.INT2];

function checkTarget(x: unknown, what: string): DataType {
  if (!TARGETS.includes(x as DataType)) {
    throw new TorchrecError(
      'ERR_INVALID_ARGUMENT',
      `quantize: ${what} must be one of ${TARGETS.join(', ')} (DataType.INT8/INT4/INT2), got ${JSON.stringify(x)}`,
    );
  }
  return x as DataType;
}

/** Each table's data type after quantize(to): `to` itself, or the Record's entry (absent: unchanged). */
export function quantizeTargets(
  tables: readonly EmbeddingBagConfig[],
  to: DataType | Record<string, DataType>,
): Map<string, DataType> {
  const names = tables.map((t) => t.name);
  const out = new Map<string, DataType>();
  if (typeof to === 'string') {
    const target = checkTarget(to, 'the data type');
    for (const t of tables) out.set(t.name, target);
  } else if (to !== null && typeof to === 'object' && !Array.isArray(to)) {
    for (const [name, dtype] of Object.entries(to)) {
      if (!names.includes(name)) {
        throw new TorchrecError(
          'ERR_INVALID_ARGUMENT',
          `quantize: no table named ${JSON.stringify(name)}${hint(name, names)} (tables: ${names.join(', ')})`,
        );
      }
      out.set(name, checkTarget(dtype, `the data type of table ${JSON.stringify(name)}`));
    }
  } else {
    throw new TorchrecError(
      'ERR_INVALID_ARGUMENT',
      'quantize: pass a DataType (INT8, INT4 or INT2) or a Record of table name to DataType',
    );
  }
  for (const t of tables) {
    if (isQuantized(t.data_type)) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        `quantize: table ${JSON.stringify(t.name)} is already ${t.data_type}; quantize a collection of fp32/fp16 tables`,
      );
    }
  }
  return out;
}

/**
 * The quantized collection's table configs: data types per `targets`, no optimizer (the collection is
 * for inference) and no `pretrained` (its weights are copied from the source). A dim that does not pack
 * is ERR_INVALID_CONFIG from the config's own validation.
 */
export function quantizedTableConfigs(
  tables: readonly EmbeddingBagConfig[],
  targets: Map<string, DataType>,
): EmbeddingBagConfig[] {
  return tables.map((t) => {
    const plain: Record<string, unknown> = { ...t, data_type: targets.get(t.name) ?? t.data_type };
    delete plain.optimizer;
    delete plain.pretrained;
    for (const k of Object.keys(plain)) if (plain[k] === undefined) delete plain[k];
    try {
      return new EmbeddingBagConfig(plain);
    } catch (e) {
      if (e instanceof TorchrecError) {
        throw new TorchrecError(e.code, `quantize: table ${JSON.stringify(t.name)}: ${e.message}`);
      }
      throw e;
    }
  });
}

/**
 * Typed config for the TwHIN example, with the schema of the-algorithm-ml's projects/twhin/config.py
 * (TwhinConfig: runtime, training, model, train_data, validation_data). Validated like lib/config:
 * every problem listed at once, unknown keys rejected with a did-you-mean, and the cross-checks that
 * projects/twhin/models/config.py makes (tables share one embedding_dim; relations name real tables).
 */
import { ConfigError, LargeEmbeddingsConfig, OptimizerConfig, TorchrecError } from '../../lib';
import { hint } from '../../lib/config/suggest';
import {
  Fields,
  Validator,
  at,
  checkUnique,
  describe,
  instanceReader,
  readChoice,
  readList,
  readNested,
  readNumber,
  readObject,
  readString,
  validateRoot,
} from '../../lib/config/validate';

/** Re-homes the issues of a config class validated on its own under `path`. */
function nested<T>(make: (raw: unknown) => T) {
  return (v: Validator, raw: unknown, path: string): T | undefined => {
    try {
      return make(raw);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      for (const i of e.issues)
        v.add(i.path === '' ? path : i.path.startsWith('[') ? path + i.path : `${path}.${i.path}`, i.message);
      return undefined;
    }
  };
}

function readBool(v: Validator, o: Fields, key: string, path: string): boolean | undefined {
  const x = o[key];
  if (x === undefined || x === null) return undefined;
  if (typeof x === 'boolean') return x;
  v.add(at(path, key), `must be a boolean, got ${describe(x)}`);
  return undefined;
}

export class RuntimeConfig {
  declare wandb?: unknown;
  declare enable_tensorfloat32?: boolean;
  declare enable_amp?: boolean;
}
const readRuntime = instanceReader(RuntimeConfig, (v, raw, path) => {
  const o = readObject(v, raw, path, ['wandb', 'enable_tensorfloat32', 'enable_amp']);
  if (!o) return undefined;
  // AMP and TF32 are GPU features; on libtorch CPU they are accepted and have no effect.
  return {
    wandb: o.wandb ?? undefined,
    enable_tensorfloat32: readBool(v, o, 'enable_tensorfloat32', path) ?? false,
    enable_amp: readBool(v, o, 'enable_amp', path) ?? false,
  };
});

/** the-algorithm-ml's core TrainingConfig, with its defaults. */
export class TrainingConfig {
  declare save_dir: string;
  declare num_train_steps: number;
  declare initial_checkpoint_dir?: string;
  declare checkpoint_every_n: number;
  declare checkpoint_max_to_keep?: number;
  declare train_log_every_n: number;
  declare num_eval_steps: number;
  declare eval_log_every_n: number;
  declare eval_timeout_in_s: number;
  declare num_epochs: number;
}
const TRAINING_INTS: [string, number | undefined][] = [
  ['num_train_steps', 10000],
  ['checkpoint_every_n', 1000],
  ['checkpoint_max_to_keep', undefined],
  ['train_log_every_n', 1000],
  ['eval_log_every_n', 5000],
  ['num_epochs', 1],
];
const readTraining = instanceReader(TrainingConfig, (v, raw, path) => {
  const o = readObject(v, raw, path, [
    'save_dir',
    'initial_checkpoint_dir',
    'num_eval_steps',
    'eval_timeout_in_s',
    ...TRAINING_INTS.map(([k]) => k),
  ]);
  if (!o) return undefined;
  const out: Fields = {
    save_dir: readString(v, o, 'save_dir', path) ?? '/tmp/model',
    initial_checkpoint_dir: readString(v, o, 'initial_checkpoint_dir', path),
    num_eval_steps: readNumber(v, o, 'num_eval_steps', path, 'int') ?? 16384,
    eval_timeout_in_s: readNumber(v, o, 'eval_timeout_in_s', path, 'nonNegative') ?? 3600,
  };
  for (const [k, d] of TRAINING_INTS) out[k] = readNumber(v, o, k, path, 'positiveInt') ?? d;
  return out;
});

export class Relation {
  declare name: string;
  declare lhs: string;
  declare rhs: string;
  declare operator: 'translation';
}
const readRelation = instanceReader(Relation, (v, raw, path) => {
  const o = readObject(v, raw, path, ['name', 'lhs', 'rhs', 'operator']);
  if (!o) return undefined;
  return {
    name: readString(v, o, 'name', path, true),
    lhs: readString(v, o, 'lhs', path, true),
    rhs: readString(v, o, 'rhs', path, true),
    operator: readChoice(v, o, 'operator', path, { translation: 'translation' as const }) ?? 'translation',
  };
});

export class TwhinModelConfig {
  declare embeddings: LargeEmbeddingsConfig;
  declare relations: Relation[];
  declare translation_optimizer: OptimizerConfig;
}
const readModel = instanceReader(TwhinModelConfig, (v, raw, path) => {
  const o = readObject(v, raw, path, ['embeddings', 'relations', 'translation_optimizer']);
  if (!o) return undefined;
  const embeddings = readNested(
    v,
    o,
    'embeddings',
    path,
    nested((r) => new LargeEmbeddingsConfig(r)),
    true,
  );
  const relations = readList(v, o, 'relations', path, readRelation, true);
  const translation_optimizer = readNested(
    v,
    o,
    'translation_optimizer',
    path,
    nested((r) => new OptimizerConfig(r)),
    true,
  );
  if (translation_optimizer && translation_optimizer.sgd === undefined) {
    // The translation table is trained in TypeScript, where only SGD is implemented.
    v.add(at(at(path, 'translation_optimizer'), 'sgd'), 'is required: the translation table is trained with SGD');
  }
  if (embeddings) {
    const dims = new Set(embeddings.tables.map((t) => t.embedding_dim));
    if (dims.size > 1)
      v.add(at(path, 'embeddings'), `all tables must share one embedding_dim, got ${[...dims].join(', ')}`);
  }
  if (relations) {
    const relPath = at(path, 'relations');
    checkUnique(
      v,
      relations.map((r) => r.name),
      (i) => at(at(relPath, i), 'name'),
      'relation name',
    );
    const tables = embeddings?.tables.map((t) => t.name);
    if (tables) {
      relations.forEach((r, i) => {
        for (const side of ['lhs', 'rhs'] as const) {
          if (!tables.includes(r[side])) {
            v.add(
              at(at(relPath, i), side),
              `no table named ${JSON.stringify(r[side])}${hint(r[side], tables)} (tables: ${tables.join(', ')})`,
            );
          }
        }
      });
    }
  }
  return { embeddings, relations, translation_optimizer };
});

export class TwhinDataConfig {
  declare data_root: string;
  declare per_replica_batch_size: number;
  declare global_negatives: number;
  declare in_batch_negatives: number;
  /** Batches read (after `offset` skipped ones). */
  declare limit?: number;
  declare offset?: number;
}
const readData = instanceReader(TwhinDataConfig, (v, raw, path) => {
  const o = readObject(v, raw, path, [
    'data_root',
    'per_replica_batch_size',
    'global_negatives',
    'in_batch_negatives',
    'limit',
    'offset',
  ]);
  if (!o) return undefined;
  const global_negatives = readNumber(v, o, 'global_negatives', path, 'nonNegativeInt', true);
  // Global negatives (sampled from the whole table) are not implemented; in-batch ones are.
  if (global_negatives) v.add(at(path, 'global_negatives'), 'only 0 is supported (use in_batch_negatives)');
  return {
    data_root: readString(v, o, 'data_root', path, true),
    per_replica_batch_size: readNumber(v, o, 'per_replica_batch_size', path, 'positiveInt', true),
    global_negatives,
    in_batch_negatives: readNumber(v, o, 'in_batch_negatives', path, 'nonNegativeInt', true),
    limit: readNumber(v, o, 'limit', path, 'positiveInt'),
    offset: readNumber(v, o, 'offset', path, 'nonNegativeInt'),
  };
});

const TOP = ['runtime', 'training', 'model', 'train_data', 'validation_data'];

export class TwhinConfig {
  declare runtime: RuntimeConfig;
  declare training: TrainingConfig;
  declare model: TwhinModelConfig;
  declare train_data: TwhinDataConfig;
  declare validation_data: TwhinDataConfig;

  constructor(raw: unknown) {
    Object.assign(
      this,
      validateRoot('TwhinConfig', raw, (v, r, path) => {
        const o = readObject(v, r, path, TOP);
        if (!o) return undefined;
        return {
          runtime: readNested(v, o, 'runtime', path, readRuntime) ?? readRuntime(v, {}, 'runtime'),
          training: readNested(v, o, 'training', path, readTraining) ?? readTraining(v, {}, 'training'),
          model: readNested(v, o, 'model', path, readModel, true),
          train_data: readNested(v, o, 'train_data', path, readData, true),
          validation_data: readNested(v, o, 'validation_data', path, readData, true),
        };
      }),
    );
    if (!this.model) throw new TorchrecError('ERR_INVALID_CONFIG', 'invalid TwhinConfig: model could not be read');
  }
}

/**
 * the-algorithm-ml's in-model embedding configs (home/recap): small tables over the discrete
 * feature tensor, addressed by position, and stratifiers that pick examples by a discrete value.
 */
import { Fields, Validator, instanceReader, readNumber, readObject, readString, validateRoot } from './validate';
import { readTables } from './embedding';

export class StratifierConfig {
  declare name: string;
  /** Position in the discrete feature tensor. */
  declare index: number;
  declare value: number;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('StratifierConfig', raw, readStratifierFields));
  }
}

function readStratifierFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, ['name', 'index', 'value']);
  if (!o) return undefined;
  return {
    name: readString(v, o, 'name', path, true),
    index: readNumber(v, o, 'index', path, 'nonNegativeInt', true),
    value: readNumber(v, o, 'value', path, 'int', true),
  };
}

export class SmallEmbeddingBagConfig {
  declare name: string;
  declare num_embeddings: number;
  declare embedding_dim: number;
  /** Position in the discrete feature tensor. */
  declare index: number;

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('SmallEmbeddingBagConfig', raw, readSmallBagFields));
  }
}

function readSmallBagFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, ['name', 'num_embeddings', 'embedding_dim', 'index']);
  if (!o) return undefined;
  return {
    name: readString(v, o, 'name', path, true),
    num_embeddings: readNumber(v, o, 'num_embeddings', path, 'positiveInt', true),
    embedding_dim: readNumber(v, o, 'embedding_dim', path, 'positiveInt', true),
    index: readNumber(v, o, 'index', path, 'nonNegativeInt', true),
  };
}

const readSmallBag = instanceReader(SmallEmbeddingBagConfig, readSmallBagFields);

export class SmallEmbeddingsConfig {
  declare tables: SmallEmbeddingBagConfig[];

  constructor(raw: unknown) {
    Object.assign(this, validateRoot('SmallEmbeddingsConfig', raw, readSmallEmbeddingsFields));
  }
}

function readSmallEmbeddingsFields(v: Validator, raw: unknown, path: string): Fields | undefined {
  const o = readObject(v, raw, path, ['tables']);
  if (!o) return undefined;
  return { tables: readTables(v, o, path, readSmallBag).tables };
}

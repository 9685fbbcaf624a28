/**
 * torchsnapshot's `.snapshot_metadata` (torchsnapshot/manifest.py): `{version, world_size, manifest}`
 * where the manifest maps `<rank>/<logical path>` to a tagged entry. It is YAML (PyYAML, YAML 1.1)
 * or JSON, which is YAML too. Parsing is as strict as torchsnapshot's own `from_yaml` — an entry it
 * would reject (a Tensor without `replicated`, a primitive without `readable`) is an error naming
 * the path — and, like it, drops entries of unknown type.
 *
 * JSON (what saveSnapshot writes) is tried first: JSON.parse takes milliseconds where the YAML parser
 * took 4.4 s for a 2.3 MB manifest. A big manifest that is not JSON is parsed on a worker thread, so
 * that the event loop keeps turning while it is.
 */
import { Worker } from 'worker_threads';
import { parse as parseYaml } from 'yaml';
import { checkpointError } from './checkpointable';

export const METADATA_FILE = '.snapshot_metadata';
/** The version torchsnapshot 0.1.0 writes (the golden samples' writer). */
export const SNAPSHOT_VERSION = '0.1.0';

export interface TensorEntry {
  type: 'Tensor';
  location: string;
  serializer: string;
  dtype: string;
  shape: number[];
  replicated: boolean;
  byte_range?: [number, number] | null;
}
export interface Shard {
  offsets: number[];
  sizes: number[];
  tensor: TensorEntry;
}
export interface ChunkedTensorEntry {
  type: 'ChunkedTensor';
  dtype: string;
  shape: number[];
  chunks: Shard[];
  replicated: boolean;
}
export interface ShardedTensorEntry {
  type: 'ShardedTensor';
  shards: Shard[];
}
export const PRIMITIVE_TYPES = ['int', 'str', 'bool', 'bytes', 'float'] as const;
export interface PrimitiveEntry {
  type: (typeof PRIMITIVE_TYPES)[number];
  serialized_value: string;
  replicated: boolean;
  readable: string | null;
}
export interface ContainerEntry {
  type: 'dict' | 'OrderedDict' | 'list';
  keys?: (string | number)[];
}
export interface ObjectEntry {
  type: 'object';
  location: string;
  serializer: string;
  obj_type: string;
  replicated: boolean;
}
export type Entry =
  TensorEntry | ChunkedTensorEntry | ShardedTensorEntry | PrimitiveEntry | ContainerEntry | ObjectEntry;
export type TensorLikeEntry = TensorEntry | ChunkedTensorEntry | ShardedTensorEntry;

export interface SnapshotMetadata {
  version: string;
  world_size: number;
  manifest: Record<string, Entry>;
}

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
const isIntList = (x: unknown): x is number[] => Array.isArray(x) && x.every(isInt);

export function isTensorLike(e: Entry): e is TensorLikeEntry {
  return e.type === 'Tensor' || e.type === 'ChunkedTensor' || e.type === 'ShardedTensor';
}

export function isContainer(e: Entry): e is ContainerEntry {
  return e.type === 'dict' || e.type === 'OrderedDict' || e.type === 'list';
}

/** The largest `.snapshot_metadata` read (a manifest needs a few hundred bytes per tensor). */
export const MAX_METADATA_BYTES = 256 * 1024 * 1024;
/** Non-JSON manifests from this size on are parsed as YAML on a worker thread. */
export const OFF_THREAD_YAML_BYTES = 256 * 1024;

// PyYAML resolves YAML 1.1 (yes/no booleans and the like); so must we.
const YAML_OPTIONS = { version: '1.1', uniqueKeys: false, maxAliasCount: 1000 } as const;

function yamlError(file: string, e: unknown): Error {
  return checkpointError(`${file}: not valid YAML/JSON (${(e as Error).message.split('\n')[0]}); truncated?`);
}

function tryJson(text: string): { doc: unknown } | undefined {
  try {
    return { doc: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** Parses and checks `.snapshot_metadata` on this thread; `file` names it in errors. */
export function parseMetadata(text: string, file: string): SnapshotMetadata {
  const json = tryJson(text);
  if (json) return checkMetadata(json.doc, file);
  let doc: unknown;
  try {
    doc = parseYaml(text, YAML_OPTIONS);
  } catch (e) {
    throw yamlError(file, e);
  }
  return checkMetadata(doc, file);
}

// Plain JavaScript run with `eval`: the worker needs nothing of this package but the yaml parser.
const YAML_WORKER = `
const { parentPort, workerData } = require('worker_threads');
const { parse } = require(workerData.yamlPath);
let reply;
try { reply = { doc: parse(workerData.text, workerData.options) }; }
catch (e) { reply = { error: String((e && e.message) || e) }; }
parentPort.postMessage(reply);
`;

function parseYamlOffThread(text: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(YAML_WORKER, {
      eval: true,
      workerData: { yamlPath: require.resolve('yaml'), text, options: YAML_OPTIONS },
    });
    worker.once('message', (m: { doc?: unknown; error?: string }) =>
      m.error !== undefined ? reject(new Error(m.error)) : resolve(m.doc),
    );
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the YAML parser thread exited with code ${code}`)));
  });
}

/** parseMetadata, with big YAML parsed on a worker thread instead of blocking the event loop. */
export async function parseMetadataOffThread(text: string, file: string): Promise<SnapshotMetadata> {
  if (text.length < OFF_THREAD_YAML_BYTES) return parseMetadata(text, file);
  const json = tryJson(text);
  if (json) return checkMetadata(json.doc, file);
  let doc: unknown;
  try {
    doc = await parseYamlOffThread(text);
  } catch (e) {
    throw yamlError(file, e);
  }
  return checkMetadata(doc, file);
}

function checkMetadata(doc: unknown, file: string): SnapshotMetadata {
  if (!isObj(doc) || !isObj(doc.manifest))
    throw checkpointError(`${file}: no "manifest" mapping; not a torchsnapshot snapshot`);
  if (typeof doc.version !== 'string') throw checkpointError(`${file}: "version" must be a string`);
  if (!isInt(doc.world_size) || doc.world_size < 1)
    throw checkpointError(`${file}: "world_size" must be a positive integer`);
  // No prototype: a path named __proto__ is then an entry like any other.
  const manifest: Record<string, Entry> = Object.create(null) as Record<string, Entry>;
  for (const [p, raw] of Object.entries(doc.manifest)) {
    const e = parseEntry(raw, `${file}: entry ${p}`);
    if (e) manifest[p] = e;
  }
  return { version: doc.version, world_size: doc.world_size, manifest };
}

function parseEntry(raw: unknown, where: string): Entry | undefined {
  if (!isObj(raw) || typeof raw.type !== 'string') throw checkpointError(`${where}: not a mapping with a "type"`);
  const t = raw.type;
  if (t === 'Tensor') return parseTensor(raw, where);
  if (t === 'ChunkedTensor') {
    requireKeys(raw, ['dtype', 'shape', 'chunks', 'replicated'], where);
    if (!isIntList(raw.shape)) throw checkpointError(`${where}: "shape" must be a list of non-negative integers`);
    return {
      type: t,
      dtype: String(raw.dtype),
      shape: raw.shape,
      chunks: parseShards(raw.chunks, where, 'chunks'),
      replicated: !!raw.replicated,
    };
  }
  if (t === 'ShardedTensor') {
    requireKeys(raw, ['shards'], where);
    // A rank without local shards lists none (ShardedTensorEntry.from_yaml_obj accepts []).
    return { type: t, shards: parseShards(raw.shards, where, 'shards', true) };
  }
  if ((PRIMITIVE_TYPES as readonly string[]).includes(t)) {
    // PrimitiveEntry.from_serialized(type, **entry) takes exactly these three keywords.
    onlyKeys(
      raw,
      ['serialized_value', 'replicated', 'readable'],
      ['serialized_value', 'replicated', 'readable'],
      where,
    );
    if (typeof raw.serialized_value !== 'string')
      throw checkpointError(`${where}: "serialized_value" must be a string`);
    return {
      type: t as PrimitiveEntry['type'],
      serialized_value: raw.serialized_value,
      replicated: !!raw.replicated,
      readable: raw.readable === null || raw.readable === undefined ? null : String(raw.readable),
    };
  }
  if (t === 'dict' || t === 'OrderedDict') {
    onlyKeys(raw, ['keys'], ['keys'], where);
    if (!Array.isArray(raw.keys)) throw checkpointError(`${where}: "keys" must be a list`);
    return { type: t, keys: raw.keys as (string | number)[] };
  }
  if (t === 'list') {
    onlyKeys(raw, [], [], where);
    return { type: t };
  }
  if (t === 'object') {
    requireKeys(raw, ['location', 'serializer', 'obj_type', 'replicated'], where);
    return {
      type: t,
      location: String(raw.location),
      serializer: String(raw.serializer),
      obj_type: String(raw.obj_type),
      replicated: !!raw.replicated,
    };
  }
  return undefined; // torchsnapshot drops entries of unknown type
}

/**
 * A top-level Tensor entry goes through TensorEntry(**entry): every field but byte_range is required
 * and an unknown key is a TypeError. Shards and chunks are read field by field (`nested`), so only
 * the required fields matter there.
 */
function parseTensor(raw: unknown, where: string, nested = false): TensorEntry {
  if (!isObj(raw)) throw checkpointError(`${where}: tensor entry is not a mapping`);
  const keys = ['type', 'location', 'serializer', 'dtype', 'shape', 'replicated', 'byte_range'];
  const required = ['location', 'serializer', 'dtype', 'shape', 'replicated'];
  if (nested) requireKeys(raw, required, where);
  else onlyKeys(raw, keys, required, where);
  if (typeof raw.location !== 'string' || raw.location === '')
    throw checkpointError(`${where}: "location" must be a non-empty string`);
  if (typeof raw.serializer !== 'string') throw checkpointError(`${where}: "serializer" must be a string`);
  if (typeof raw.dtype !== 'string') throw checkpointError(`${where}: "dtype" must be a string such as torch.float32`);
  if (!isIntList(raw.shape)) throw checkpointError(`${where}: "shape" must be a list of non-negative integers`);
  const br = raw.byte_range;
  if (br !== undefined && br !== null && !(isIntList(br) && br.length === 2 && br[0] <= br[1])) {
    throw checkpointError(`${where}: "byte_range" must be null or [start, end] with start <= end`);
  }
  return {
    type: 'Tensor',
    location: raw.location,
    serializer: raw.serializer,
    dtype: raw.dtype,
    shape: raw.shape,
    replicated: !!raw.replicated,
    byte_range: br === undefined || br === null ? null : [(br as number[])[0], (br as number[])[1]],
  };
}

function parseShards(raw: unknown, where: string, field: string, mayBeEmpty = false): Shard[] {
  if (!Array.isArray(raw) || (raw.length === 0 && !mayBeEmpty)) {
    throw checkpointError(`${where}: "${field}" must be a ${mayBeEmpty ? '' : 'non-empty '}list`);
  }
  return raw.map((s, i) => {
    const w = `${where} ${field}[${i}]`;
    if (!isObj(s) || !isIntList(s.offsets) || !isIntList(s.sizes) || s.offsets.length !== s.sizes.length) {
      throw checkpointError(`${w}: needs "offsets" and "sizes", integer lists of equal length`);
    }
    return { offsets: s.offsets, sizes: s.sizes, tensor: parseTensor(s.tensor, `${w}.tensor`, true) };
  });
}

function requireKeys(raw: Obj, required: string[], where: string): void {
  const missing = required.filter((k) => !(k in raw));
  if (missing.length > 0) throw checkpointError(`${where}: missing ${missing.map((k) => `"${k}"`).join(', ')}`);
}

function onlyKeys(raw: Obj, allowed: string[], required: string[], where: string): void {
  requireKeys(raw, required, where);
  const extra = Object.keys(raw).filter((k) => k !== 'type' && !allowed.includes(k));
  if (extra.length > 0) throw checkpointError(`${where}: unknown keys ${extra.map((k) => `"${k}"`).join(', ')}`);
}

/** A manifest path's rank and logical path: `0/model/x` → [0, 'model/x']. */
export function splitPath(p: string): [number, string] {
  const i = p.indexOf('/');
  const rank = Number(i < 0 ? p : p.slice(0, i));
  return [Number.isInteger(rank) ? rank : -1, i < 0 ? '' : p.slice(i + 1)];
}

/**
 * The entries rank `rank` may load, by logical path (manifest.get_available_entries): replicated
 * entries from any rank, sharded tensors merged over all ranks, the rest only from `rank`;
 * containers are left out.
 */
export function availableEntries(manifest: Record<string, Entry>, rank = 0): Map<string, Entry> {
  const byLogical = new Map<string, Map<number, Entry>>();
  for (const [p, e] of Object.entries(manifest)) {
    const [r, logical] = splitPath(p);
    if (!byLogical.has(logical)) byLogical.set(logical, new Map());
    byLogical.get(logical)!.set(r, e);
  }
  const out = new Map<string, Entry>();
  for (const [logical, ranks] of byLogical) {
    const entries = [...ranks.values()];
    const first = entries[0];
    if ('replicated' in first && first.replicated) out.set(logical, first);
    else if (first.type === 'ShardedTensor') {
      out.set(logical, { type: 'ShardedTensor', shards: entries.flatMap((e) => (e as ShardedTensorEntry).shards) });
    } else if (ranks.has(rank) && !isContainer(ranks.get(rank)!)) out.set(logical, ranks.get(rank)!);
  }
  return out;
}

/** flatten.py's _key_to_filename: a state-dict key as one path component. */
export function keyToFilename(key: string): string {
  return key.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/** The value of an int/float/str/bool/bytes primitive entry, as torchsnapshot's get_value. */
export function primitiveValue(e: PrimitiveEntry, where: string): number | string | boolean | Uint8Array {
  switch (e.type) {
    case 'int': {
      if (!/^[-+]?\d+$/.test(e.serialized_value.trim()))
        throw checkpointError(`${where}: bad int ${e.serialized_value}`);
      const v = Number(e.serialized_value);
      if (!Number.isSafeInteger(v))
        throw checkpointError(`${where}: int ${e.serialized_value} is too large for a JS number`);
      return v;
    }
    case 'float': {
      const b = Buffer.from(e.serialized_value, 'base64');
      if (b.length !== 8) throw checkpointError(`${where}: a float must be 8 base64-encoded bytes`);
      return b.readDoubleLE(0);
    }
    case 'bool':
      if (e.serialized_value !== 'True' && e.serialized_value !== 'False') throw checkpointError(`${where}: bad bool`);
      return e.serialized_value === 'True';
    case 'bytes':
      return new Uint8Array(Buffer.from(e.serialized_value, 'base64'));
    default:
      return e.serialized_value;
  }
}

export function intEntry(n: number): PrimitiveEntry {
  return { type: 'int', serialized_value: String(n), replicated: false, readable: null };
}

/** A float as torchsnapshot stores it: base64 of struct.pack('d'), with a readable copy. */
export function floatEntry(x: number): PrimitiveEntry {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(x);
  return { type: 'float', serialized_value: b.toString('base64'), replicated: false, readable: String(x) };
}

export function strEntry(s: string): PrimitiveEntry {
  return { type: 'str', serialized_value: s, replicated: false, readable: null };
}

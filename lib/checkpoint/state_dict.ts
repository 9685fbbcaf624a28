/**
 * State dicts in torch.save's format, both ways: `saveStateDict` writes what Python's `torch.load`
 * reads as an OrderedDict of `<prefix>embedding_bags.<table>.weight` tensors; `loadStateDict` reads
 * what Python's `torch.save(module.state_dict())` wrote, from any model that holds the tables.
 * Loading reads and checks every table before it changes any, so a bad file leaves the module as it was.
 */
import {
  Checkpointable,
  checkpointError,
  ModuleKeyOptions,
  numel,
  StateAccess,
  shapeText,
  tableDtype,
  tableShape,
  weightKey,
} from './checkpointable';
import {
  LoadStateDictOptions,
  ResolvedLoadStateDictOptions,
  validateLoadStateDictOptions,
} from '../options/checkpoint';
import { decodeFloats, elementSize, isFloatDtype } from './dtypes';
import { byteChunks } from './fs_util';
import { pickleStateDict, PickledTensor } from './pickle_writer';
import { PyDict, StorageRef, TensorRef, unpickle } from './pickle_reader';
import { ArchiveRecord, TorchArchive, writeTorchArchive } from './torch_zip';
import { isManaged, isManagedKey, managedKey, MANAGED_PARTS, packManaged, readManagedStateDict } from './managed_ids';
import type { EmbeddingBagConfig } from '../config/embedding';
import type { NativeStateImport } from '../native';
import { joinStoredRows, QBIAS, QSCALE, readByteTensor, splitStoredRows, storedRowBytes } from './quantized_state';
import { archiveMappedSource } from './mapped_source';

export type { LoadStateDictOptions } from '../options/checkpoint';

export async function saveStateDict(module: Checkpointable, file: string, o: ModuleKeyOptions = {}): Promise<void> {
  const keyPrefix = o.keyPrefix ?? '';
  // One read in call order, in the tables' stored dtype: written as they are.
  const state = await module.inCallOrder((m) =>
    m.exportState(
      module.tables.map((t) => t.name),
      false,
    ),
  );
  const tensors: PickledTensor[] = [];
  const records: ArchiveRecord[] = [];
  const add = (key: string, dtype: PickledTensor['dtype'], shape: number[], data: ArrayBufferView): void => {
    const storageKey = String(records.length);
    tensors.push({ key, storageKey, dtype, shape });
    records.push({
      name: `data/${storageKey}`,
      size: numel(shape) * elementSize(dtype),
      chunks: () => byteChunks(data),
    });
  };
  for (const t of module.tables) {
    const key = weightKey(keyPrefix, t.name);
    const rowBytes = storedRowBytes(t);
    if (rowBytes === 0) {
      add(key, tableDtype(t), tableShape(t), state.tables[t.name].weight);
      continue;
    }
    // TorchRec's QuantEBC keys: codes, then fp16 scale and bias per row.
    const n = t.num_embeddings;
    const { codes, scale, bias } = splitStoredRows(state.tables[t.name].weight as Uint8Array, n, rowBytes);
    add(key, 'uint8', [n, rowBytes - 4], codes);
    add(key + QSCALE, 'float16', [n, 1], scale);
    add(key + QBIAS, 'float16', [n, 1], bias);
  }
  // Managed-id tables add their map as int64 tensors (checkpoint/managed_ids.ts).
  for (const t of module.tables.filter(isManaged)) {
    const packed = packManaged(state.tables[t.name].managed!);
    for (const part of MANAGED_PARTS)
      add(managedKey(keyPrefix, t.name, part), 'int64', packed[part].shape, packed[part].data);
  }
  await writeTorchArchive(file, pickleStateDict(tensors), records);
}

export async function loadStateDict(
  module: Checkpointable,
  file: string,
  options: LoadStateDictOptions = {},
  k: ModuleKeyOptions = {},
): Promise<void> {
  const o = validateLoadStateDictOptions(options);
  return module.inCallOrder((m) => loadInOrder(module, m, file, o, k));
}

async function loadInOrder(
  module: Checkpointable,
  m: StateAccess,
  file: string,
  o: ResolvedLoadStateDictOptions,
  k: ModuleKeyOptions,
): Promise<void> {
  const archive = await TorchArchive.open(file);
  try {
    // PyTorch ≥ 2.1 records the writer's byte order; storages are read as little-endian.
    if (archive.has('byteorder')) {
      const order = Buffer.from(await archive.readRecord('byteorder'))
        .toString('latin1')
        .trim();
      if (order !== 'little')
        throw checkpointError(`${file}: storages were written ${order}-endian; only little-endian is supported`);
    }
    const root = unpickle(await archive.readPickle(), `${file}: ${archive.archiveName}/data.pkl`);
    if (!(root instanceof PyDict)) {
      throw checkpointError(`${file}: the saved object is not a state dict (dict or OrderedDict of tensors)`);
    }
    const tensors = new Map<string, TensorRef>();
    for (const [k, v] of root.map) if (typeof k === 'string' && v instanceof TensorRef) tensors.set(k, v);
    const weightKeys = [...tensors.keys()].filter((key) => !isManagedKey(key));
    const chosen = matchKeys(module, file, weightKeys, o, k.keyPrefix ?? '');
    const storages = new StorageCache();
    const loaded: NativeStateImport = {};
    for (const [table, key] of chosen) {
      const t = module.tables.find((x) => x.name === table)!;
      const where = `${file}: entry ${key} (table ${table})`;
      const ref = tensors.get(key)!;
      if (storedRowBytes(t) > 0 && ref.storage.dtype === 'uint8') {
        loaded[table] = { weight: await readQuantized(archive, file, key, t, tensors, storages), serve: o.mmap };
        continue;
      }
      // With mmap, a record in the table's dtype is mapped in place (mapped_source.ts); others are read. A
      // float tensor is taken as is (float tables) or quantized by the core (int tables).
      const mapped =
        o.mmap && storedRowBytes(t) === 0
          ? await archiveMappedSource(archive, ref, tableDtype(t), tableShape(t), where)
          : undefined;
      loaded[table] = mapped
        ? { mapped }
        : { weight: await readTensor(archive, where, ref, tableShape(t), storages), serve: o.mmap };
    }
    for (const [table, key] of chosen) {
      const t = module.tables.find((x) => x.name === table)!;
      if (isManaged(t)) loaded[table].managed = await readManagedStateDict(archive, file, tensors, t, key);
    }
    // Everything is read and checked: only now touch the module, all tables at once.
    await m.importState(loaded);
  } finally {
    archive.close();
  }
}

/** A QuantEBC table: `<key>` uint8 codes with `<key>_qscale` / `_qbias`, joined into the module's stored rows. */
async function readQuantized(
  archive: TorchArchive,
  file: string,
  key: string,
  t: EmbeddingBagConfig,
  tensors: Map<string, TensorRef>,
  storages: StorageCache,
): Promise<Uint8Array> {
  const n = t.num_embeddings;
  const where = (k: string) => `${file}: entry ${k} (table ${t.name})`;
  const codes = await readByteTensor(archive, where(key), tensors.get(key)!, [n, storedRowBytes(t) - 4]);
  const qparam = async (suffix: string): Promise<Float32Array> => {
    const ref = tensors.get(key + suffix);
    if (!ref) throw checkpointError(`${where(key)} is quantized (uint8) but ${key + suffix} is missing`);
    return readTensor(archive, where(key + suffix), ref, [n, 1], storages);
  };
  return joinStoredRows(codes, await qparam(QSCALE), await qparam(QBIAS), n);
}

/** table name → key in the file, by the rules of LoadStateDictOptions. */
function matchKeys(
  module: Checkpointable,
  file: string,
  keys: string[],
  o: ResolvedLoadStateDictOptions,
  keyPrefix: string,
): Map<string, string> {
  const strict = o.strict;
  const found = new Map<string, string>();
  const listed = (ks: string[]): string =>
    ks.length === 0 ? '(none)' : ks.slice(0, 20).join(', ') + (ks.length > 20 ? ', ...' : '');
  if (o.prefix !== undefined) {
    const prefix = o.prefix;
    const under = keys.filter((k) => k.startsWith(prefix));
    if (under.length === 0) {
      throw checkpointError(
        `${file}: no tensor key starts with prefix ${JSON.stringify(prefix)}; keys: ${listed(keys)}`,
      );
    }
    const expected = new Map(module.tables.map((t) => [weightKey(keyPrefix, t.name), t.name]));
    for (const k of under) {
      const table = expected.get(k.slice(prefix.length));
      if (table !== undefined) found.set(table, k);
    }
    // A quantized table's scale and bias tensors belong to its weight key.
    const known = (k: string) =>
      expected.has(k) || [QSCALE, QBIAS].some((q) => k.endsWith(q) && expected.has(k.slice(0, -q.length)));
    const unexpected = under.filter((k) => !known(k.slice(prefix.length)));
    if (strict && unexpected.length > 0) {
      throw checkpointError(
        `${file}: unexpected keys under prefix ${JSON.stringify(prefix)}: ${listed(unexpected)} ` +
          `(the module's keys are ${listed([...expected.keys()])}; pass strict: false to ignore them)`,
      );
    }
  } else {
    for (const t of module.tables) {
      const own = weightKey(keyPrefix, t.name);
      const suffix = weightKey('', t.name);
      if (keys.includes(own)) {
        found.set(t.name, own);
        continue;
      }
      const candidates = keys.filter((k) => k === suffix || k.endsWith(`.${suffix}`));
      if (candidates.length > 1) {
        throw checkpointError(
          `${file}: table ${t.name} matches several keys (${candidates.join(', ')}); pass { prefix } to choose one`,
        );
      }
      if (candidates.length === 1) found.set(t.name, candidates[0]);
    }
  }
  const missing = module.tables.filter((t) => !found.has(t.name)).map((t) => weightKey(keyPrefix, t.name));
  if ((strict && missing.length > 0) || found.size === 0) {
    throw checkpointError(
      `${file}: missing keys ${listed(missing)}${o.prefix !== undefined ? ` (after prefix ${JSON.stringify(o.prefix)})` : ''}; ` +
        `keys in the file: ${listed(keys)}`,
    );
  }
  return found;
}

/** A torch.save'd single tensor (torchsnapshot's `torch_save` serializer), as float32 of `shape`. */
export async function readArchiveTensor(
  archive: TorchArchive,
  shape: readonly number[],
  where: string,
): Promise<Float32Array> {
  const root = unpickle(await archive.readPickle(), `${where}: ${archive.file}: ${archive.archiveName}/data.pkl`);
  if (!(root instanceof TensorRef)) throw checkpointError(`${where}: ${archive.file} does not hold a single tensor`);
  return readTensor(archive, `${where}: ${archive.file}`, root, shape, new StorageCache());
}

/**
 * The storages of one file seen so far: each key's one dtype and size (a hostile pickle once named
 * one storage as both float and half, and the second view decoded to zeros), and the element range
 * last decoded from it, so views sharing a storage read it once.
 */
class StorageCache {
  readonly seen = new Map<string, StorageRef>();
  readonly decoded = new Map<string, { lo: number; data: Float32Array }>();
}

/** One tensor as float32 row-major, checked for dtype, shape, storage size and bounds. */
async function readTensor(
  archive: TorchArchive,
  where: string,
  t: TensorRef,
  shape: readonly number[],
  storages: StorageCache,
): Promise<Float32Array> {
  const s = t.storage;
  if (!isFloatDtype(s.dtype)) {
    throw checkpointError(
      `${where} has dtype ${s.dtype}; weights need a floating-point dtype (fp32, fp16, bf16 or fp64)`,
    );
  }
  if (shapeText(t.size) !== shapeText(shape)) {
    throw checkpointError(`${where} has shape ${shapeText(t.size)}, expected ${shapeText(shape)}`);
  }
  const record = `data/${s.key}`;
  if (!archive.has(record)) throw checkpointError(`${where}: its storage ${archive.archiveName}/${record} is missing`);
  const first = storages.seen.get(s.key);
  if (first && (first.dtype !== s.dtype || first.numel !== s.numel)) {
    throw checkpointError(
      `${where}: storage ${archive.archiveName}/${record} is ${s.numel} × ${s.dtype} here but ` +
        `${first.numel} × ${first.dtype} in another tensor; a storage has one dtype and size`,
    );
  }
  storages.seen.set(s.key, s);
  const bytes = s.numel * elementSize(s.dtype);
  if (archive.size(record) !== bytes) {
    throw checkpointError(
      `${where}: storage ${archive.archiveName}/${record} holds ${archive.size(record)} bytes, expected ${bytes} (${s.numel} × ${s.dtype})`,
    );
  }
  const n = numel(shape);
  if (n === 0) return new Float32Array(0);
  let extent = t.offset;
  t.size.forEach((sz, i) => (extent += sz === 0 ? 0 : (sz - 1) * t.stride[i]));
  if (t.offset < 0 || t.stride.some((x) => x < 0) || extent >= s.numel) {
    throw checkpointError(
      `${where}: offset ${t.offset} and strides ${shapeText(t.stride)} reach outside its storage of ${s.numel} elements`,
    );
  }
  const contiguous = t.stride.every((st, i) => t.size[i] === 1 || st === numel(t.size.slice(i + 1)));
  if (contiguous && t.offset === 0 && s.numel === n && s.dtype === 'float32' && !storages.decoded.has(s.key)) {
    // The common case: stream the record straight into the array the module will take.
    const out = new Float32Array(n);
    await archive.readRecordInto(record, new Uint8Array(out.buffer));
    return out;
  }
  // Only the elements [offset, extent] the view touches are read: a view of 8×4 behind a storage of
  // 512 MiB reads 128 bytes, not the storage.
  const span = await loadSpan(archive, s, record, t.offset, extent, storages);
  const out = new Float32Array(n);
  if (contiguous) {
    out.set(span.data.subarray(t.offset - span.lo, t.offset - span.lo + n));
  } else {
    gather(span.data, t.offset - span.lo, t.size, t.stride, out);
  }
  return out;
}

/** Elements [lo, hi] of a storage as float32 (a cached span when it covers them). */
async function loadSpan(
  archive: TorchArchive,
  s: StorageRef,
  record: string,
  lo: number,
  hi: number,
  cache: StorageCache,
): Promise<{ lo: number; data: Float32Array }> {
  const cached = cache.decoded.get(s.key);
  if (cached && cached.lo <= lo && hi < cached.lo + cached.data.length) return cached;
  const size = elementSize(s.dtype);
  const count = hi - lo + 1;
  const raw = new Uint8Array(count * size);
  await archive.readRecordRange(record, lo * size, raw);
  const data = new Float32Array(count);
  decodeFloats(raw, s.dtype, count, data, 0);
  const span = { lo, data };
  cache.decoded.set(s.key, span);
  return span;
}

/** Copies a strided view of `src` into row-major `out` (handles transposes and other views). */
function gather(src: Float32Array, offset: number, size: number[], stride: number[], out: Float32Array): void {
  const nd = size.length;
  const idx = new Array<number>(nd).fill(0);
  let p = offset;
  for (let i = 0; i < out.length; i++) {
    out[i] = src[p];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d] += 1;
      p += stride[d];
      if (idx[d] < size[d]) break;
      p -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
}

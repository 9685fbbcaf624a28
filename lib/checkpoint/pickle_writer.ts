/**
 * Writes the protocol-2 pickle of a state dict exactly as `torch.save(module.state_dict())` lays it
 * out: an OrderedDict of `_rebuild_tensor_v2` calls whose storages are persistent ids pointing at
 * `data/<key>` records, and `_metadata` (module versions) attached with BUILD so that Python's
 * `module.load_state_dict(torch.load(path))` treats the file like one it wrote itself.
 */
import { Dtype, storageClassName } from './dtypes';

const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  GLOBAL: 0x63,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  EMPTY_DICT: 0x7d,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  REDUCE: 0x52,
  BUILD: 0x62,
  BINPERSID: 0x51,
  BINUNICODE: 0x58,
  BININT: 0x4a,
  BININT1: 0x4b,
  BININT2: 0x4d,
  LONG1: 0x8a,
  NEWFALSE: 0x89,
} as const;

class PickleWriter {
  private readonly parts: Buffer[] = [];

  op(code: number): this {
    this.parts.push(Buffer.from([code]));
    return this;
  }

  global(module: string, name: string): this {
    this.op(OP.GLOBAL);
    this.parts.push(Buffer.from(`${module}\n${name}\n`, 'latin1'));
    return this;
  }

  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.op(OP.BINUNICODE);
    this.parts.push(len, b);
    return this;
  }

  int(n: number): this {
    if (!Number.isSafeInteger(n)) throw new Error(`pickle int out of range: ${n}`);
    if (n >= 0 && n < 0x100) return this.op(OP.BININT1).raw([n]);
    if (n >= 0 && n < 0x10000) return this.op(OP.BININT2).raw([n & 0xff, n >> 8]);
    if (n >= -0x80000000 && n < 0x80000000) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      this.op(OP.BININT);
      this.parts.push(b);
      return this;
    }
    // LONG1: minimal little-endian two's complement.
    const bytes: number[] = [];
    let v = BigInt(n);
    for (;;) {
      const byte = Number(v & 0xffn);
      bytes.push(byte);
      v >>= 8n;
      if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) break;
    }
    return this.op(OP.LONG1).raw([bytes.length, ...bytes]);
  }

  intTuple(values: readonly number[]): this {
    this.op(OP.MARK);
    values.forEach((v) => this.int(v));
    return this.op(OP.TUPLE);
  }

  raw(bytes: number[]): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface PickledTensor {
  key: string;
  /** Name of the `data/<storageKey>` record. */
  storageKey: string;
  dtype: Dtype;
  shape: readonly number[];
}

/** The module-version metadata nn.Module.state_dict() attaches: every module prefix → {version: 1}. */
export function moduleMetadataPrefixes(keys: readonly string[]): string[] {
  const prefixes = [''];
  for (const key of keys) {
    const parts = key.split('.').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('.');
      if (!prefixes.includes(p)) prefixes.push(p);
    }
  }
  return prefixes;
}

/** data.pkl for an OrderedDict of contiguous tensors, each with its own storage. */
export function pickleStateDict(tensors: readonly PickledTensor[]): Buffer {
  const w = new PickleWriter();
  w.op(OP.PROTO).raw([2]);
  w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  w.op(OP.MARK);
  for (const t of tensors) {
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    w.str(t.key);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(OP.MARK);
    // Persistent id: ('storage', torch.<Class>Storage, key, 'cpu', numel).
    w.op(OP.MARK).str('storage').global('torch', storageClassName(t.dtype)).str(t.storageKey).str('cpu').int(numel);
    w.op(OP.TUPLE).op(OP.BINPERSID);
    w.int(0).intTuple(t.shape).intTuple(stride).op(OP.NEWFALSE);
    w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE); // backward hooks
    w.op(OP.TUPLE).op(OP.REDUCE);
  }
  w.op(OP.SETITEMS);
  // BUILD state {'_metadata': OrderedDict(prefix → {'version': 1})}
  w.op(OP.EMPTY_DICT).str('_metadata');
  w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE).op(OP.MARK);
  for (const prefix of moduleMetadataPrefixes(tensors.map((t) => t.key))) {
    w.str(prefix).op(OP.EMPTY_DICT).str('version').int(1).op(OP.SETITEM);
  }
  w.op(OP.SETITEMS).op(OP.SETITEM).op(OP.BUILD);
  w.op(OP.STOP);
  return w.bytes();
}

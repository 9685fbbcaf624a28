/**
 * An unpickler for exactly the subset of pickle that `torch.save(module.state_dict())` produces
 * (protocol 2, plus the protocol-4 framing opcodes newer Pythons emit). libtorch's own
 * `torch::pickle_load` rejects `collections.OrderedDict`, and a general unpickler would execute
 * arbitrary globals; this one builds plain values and resolves only an allow-list of globals
 * (OrderedDict, torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.*Storage). Anything else
 * is an ERR_CHECKPOINT naming the file and the offending opcode or global, never code execution.
 *
 * The pickle is untrusted, so its size (checked by the caller, see MAX_PICKLE_BYTES), the stack and
 * the memo are bounded: a state dict's pickle keeps a few dozen items on the stack (pickle batches
 * SETITEMS/APPENDS by 1000) and about ten memo entries per tensor, while a hostile one of ~180M NONE
 * opcodes once grew the stack until V8 aborted the process.
 */
import { checkpointError } from './checkpointable';
import { storageClassDtype } from './dtypes';
import { PyDict, PyGlobal, PyKey, PyList, PyTuple, PyValue, StorageRef, TensorRef } from './pickle_values';

export { PyDict, PyGlobal, PyList, PyTuple, StorageRef, TensorRef } from './pickle_values';
export type { PyKey, PyValue } from './pickle_values';

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
]);

function allowGlobal(module: string, name: string, where: string): PyGlobal {
  const g = new PyGlobal(module, name);
  if (ALLOWED_GLOBALS.has(g.qualified)) return g;
  if (module === 'torch' && storageClassDtype(name) !== undefined) return g;
  throw checkpointError(
    `${where}: the pickle refers to ${g.qualified}, which a torch.save'd state dict never contains; ` +
      'refusing to load it (only tensors in a dict/OrderedDict are supported)',
  );
}

/**
 * The largest data.pkl read: a state dict's pickle needs 100-200 bytes per tensor, so this admits
 * well over 100k tensors, while everything the unpickler builds stays linear in it (at worst one
 * array slot per byte, ~256 MB).
 */
export const MAX_PICKLE_BYTES = 32 * 1024 * 1024;
/** Stack items (values and MARKs) at once; a state dict's pickle stays in the low thousands. */
export const MAX_PICKLE_STACK = 1 << 20;
/** Memo entries; a state dict's pickle memoizes about ten objects per tensor. */
export const MAX_PICKLE_MEMO = 1 << 21;

const MARK = Symbol('mark');
type StackItem = PyValue | typeof MARK;

/**
 * Unpickles `data`. `where` names the file and record for error messages.
 */
export function unpickle(data: Uint8Array, where: string): PyValue {
  if (data.byteLength > MAX_PICKLE_BYTES) {
    throw checkpointError(
      `${where}: the pickle is ${data.byteLength} bytes, more than the ${MAX_PICKLE_BYTES} a state dict's needs`,
    );
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const stack: StackItem[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;

  // Declared with its type so that `if (...) fail(...)` narrows like a throw.
  const fail: (msg: string) => never = (msg) => {
    throw checkpointError(`${where}: ${msg} (at byte ${pos})`);
  };
  const need = (n: number): void => {
    if (pos + n > data.length) fail('truncated pickle');
  };
  const u8 = (): number => {
    need(1);
    return data[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail('length too large');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => {
    need(n);
    const b = data.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const text = (n: number): string => {
    const b = bytes(n); // outside the try: a length past the end is truncation, not bad UTF-8
    try {
      return decoder.decode(b);
    } catch {
      return fail('invalid UTF-8 in string');
    }
  };
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail('truncated pickle');
    const s = Buffer.from(data.subarray(pos, end)).toString('latin1');
    pos = end + 1;
    return s;
  };
  const push = (v: StackItem): void => {
    if (stack.length >= MAX_PICKLE_STACK) {
      fail(`more than ${MAX_PICKLE_STACK} items on the pickle stack; not a state dict (a hostile file?)`);
    }
    stack.push(v);
  };
  const memoSet = (i: number, v: PyValue): void => {
    if (memo.size >= MAX_PICKLE_MEMO && !memo.has(i)) {
      fail(`more than ${MAX_PICKLE_MEMO} memo entries; not a state dict (a hostile file?)`);
    }
    memo.set(i, v);
  };
  const pop = (): PyValue => {
    const v = stack.pop();
    if (v === undefined) fail('stack underflow');
    if (v === MARK) fail('unexpected MARK');
    return v as PyValue;
  };
  const top = (): PyValue => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow');
    return stack[stack.length - 1] as PyValue;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail('no MARK on the stack');
    const items = stack.splice(i) as PyValue[];
    return items.slice(1);
  };
  const memoGet = (i: number): PyValue => {
    if (!memo.has(i)) fail(`memo key ${i} was never stored`);
    return memo.get(i) as PyValue;
  };
  const dictKey = (k: PyValue): PyKey => {
    if (
      k === null ||
      typeof k === 'string' ||
      typeof k === 'number' ||
      typeof k === 'bigint' ||
      typeof k === 'boolean'
    ) {
      return k;
    }
    return fail('unsupported dict key type');
  };
  const setItems = (target: PyValue, kv: PyValue[]): void => {
    if (!(target instanceof PyDict)) fail('SETITEM(S) on something that is not a dict');
    if (kv.length % 2 !== 0) fail('odd number of items for SETITEMS');
    for (let i = 0; i < kv.length; i += 2) (target as PyDict).map.set(dictKey(kv[i]), kv[i + 1]);
  };
  const appendItems = (target: PyValue, items: PyValue[]): void => {
    if (!(target instanceof PyList)) fail('APPEND(S) on something that is not a list');
    // One at a time: spreading a hostile APPENDS of millions of items overflows the call stack.
    const list = (target as PyList).items;
    for (const item of items) list.push(item);
  };
  const int = (v: PyValue, what: string): number => {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= 0n) return Number(v);
    return fail(`${what} is not an integer`);
  };
  const intTuple = (v: PyValue, what: string): number[] => {
    if (!(v instanceof PyTuple)) return fail(`${what} is not a tuple`);
    return v.items.map((x) => int(x, what));
  };
  const reduce = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal)) return fail('REDUCE on something that is not an allowed global');
    if (!(args instanceof PyTuple)) return fail(`REDUCE of ${fn.qualified} without an argument tuple`);
    switch (fn.qualified) {
      case 'collections.OrderedDict': {
        const d = new PyDict(true);
        if (args.items.length > 0) fail('OrderedDict(...) with arguments is not supported');
        return d;
      }
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args.items;
        if (args.items.length < 6 || args.items.length > 7)
          fail('_rebuild_tensor_v2 with an unexpected argument count');
        if (!(storage instanceof StorageRef)) return fail('_rebuild_tensor_v2 without a storage');
        const sz = intTuple(size, 'tensor size');
        const st = intTuple(stride, 'tensor stride');
        if (sz.length !== st.length) fail('tensor size and stride differ in length');
        return new TensorRef(storage, int(offset, 'storage offset'), sz, st);
      }
      case 'torch._utils._rebuild_parameter': {
        // nn.Parameter(data, requires_grad, hooks): the data is what a state dict needs.
        const [tensor] = args.items;
        if (!(tensor instanceof TensorRef)) return fail('_rebuild_parameter without a tensor');
        return tensor;
      }
      default:
        return fail(`${fn.qualified} cannot be called`);
    }
  };
  const persistent = (pid: PyValue): PyValue => {
    if (!(pid instanceof PyTuple) || pid.items[0] !== 'storage' || pid.items.length !== 5) {
      return fail('unsupported persistent id (only torch storages are supported)');
    }
    const [, cls, key, location, n] = pid.items;
    const dtype = cls instanceof PyGlobal && cls.module === 'torch' ? storageClassDtype(cls.name) : undefined;
    if (!dtype) return fail('persistent id names an unknown storage class');
    if (typeof key !== 'string' || typeof location !== 'string') return fail('malformed storage persistent id');
    return new StorageRef(key, dtype, location, int(n, 'storage size'));
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail('pickle ended with a malformed stack');
        return pop();
      case 0x28: // MARK
        push(MARK);
        break;
      case 0x30: // POP
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        need(4);
        push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: {
        // LONG1: little-endian two's complement
        const b = bytes(u8());
        let v = 0n;
        for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: // BINFLOAT: big-endian double
        need(8);
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x58: // BINUNICODE
        push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(text(u64()));
        break;
      case 0x54: // BINSTRING (Python 2 str)
        push(Buffer.from(bytes(u32())).toString('latin1'));
        break;
      case 0x55: // SHORT_BINSTRING
        push(Buffer.from(bytes(u8())).toString('latin1'));
        break;
      case 0x42: // BINBYTES
        push(bytes(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        push(bytes(u8()));
        break;
      case 0x8e: // BINBYTES8
        push(bytes(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        push(new PyTuple([pop(), b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        push(new PyTuple([pop(), b, c]));
        break;
      }
      case 0x5d: // EMPTY_LIST
        push(new PyList([]));
        break;
      case 0x6c: // LIST
        push(new PyList(popMark()));
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new PyDict(false));
        break;
      case 0x64: {
        // DICT
        const d = new PyDict(false);
        setItems(d, popMark());
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv);
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        push(allowGlobal(module, line(), where));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL without strings');
        push(allowGlobal(module as string, name as string, where));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        push(reduce(pop(), args));
        break;
      }
      case 0x62: {
        // BUILD: only a dict's instance attributes (a state dict's _metadata)
        const state = pop();
        const target = top();
        if (!(target instanceof PyDict)) fail('BUILD on something that is not a dict');
        (target as PyDict).attrs = state;
        break;
      }
      case 0x51: // BINPERSID
        push(persistent(pop()));
        break;
      case 0x71: // BINPUT
        memoSet(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memoSet(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memoSet(memo.size, top());
        break;
      case 0x68: // BINGET
        push(memoGet(u8()));
        break;
      case 0x6a: // LONG_BINGET
        push(memoGet(u32()));
        break;
      default:
        fail(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} ` +
            '(not part of what torch.save writes for a state dict)',
        );
    }
  }
}

/**
 * Validation plumbing shared by the config classes. Readers never throw: they record an issue with
 * the field's path and carry on, so that one error can list every problem in a config instead of
 * making the user fix them one run at a time.
 */
import { TorchrecError } from '../errors';
import { hint } from './suggest';

export interface ConfigIssue {
  /** Field path such as `tables[1].embedding_dim`; empty for the value itself. */
  path: string;
  message: string;
}

// Beyond this the message stops being readable; the full list stays on `issues`.
const MAX_LISTED = 50;

function formatIssue(issue: ConfigIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/**
 * What a bad options object is. Config classes and the options of a constructor configure a module:
 * ERR_INVALID_CONFIG. The options of a method call (train, tableNorms, saveSnapshot, loadStateDict)
 * keep ERR_INVALID_ARGUMENT, the code those calls have always given every other bad argument.
 */
export type OptionsErrorCode = 'ERR_INVALID_CONFIG' | 'ERR_INVALID_ARGUMENT';

/** ERR_INVALID_CONFIG (or `code`) carrying every issue found, machine-readable on `issues`. */
export class ConfigError extends TorchrecError {
  readonly issues: ConfigIssue[];

  constructor(what: string, issues: ConfigIssue[], code: OptionsErrorCode = 'ERR_INVALID_CONFIG') {
    const listed = issues.slice(0, MAX_LISTED).map(formatIssue);
    if (issues.length > MAX_LISTED) listed.push(`... and ${issues.length - MAX_LISTED} more`);
    super(code, `invalid ${what}: ${listed.join('; ')}`);
    this.issues = issues;
  }
}

export class Validator {
  readonly issues: ConfigIssue[] = [];

  add(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  get count(): number {
    return this.issues.length;
  }
}

export type Fields = Record<string, unknown>;
/** Reads `raw` found at `path`; returns undefined (after recording why) when it is unusable. */
export type Reader<T> = (v: Validator, raw: unknown, path: string) => T | undefined;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (!IDENTIFIER.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

/** A short, side-effect-free rendering of a bad value for "got ..." (never calls user toString). */
export function describe(x: unknown): string {
  if (x === null) return 'null';
  switch (typeof x) {
    case 'undefined':
      return 'nothing';
    case 'string':
      return JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}...` : x);
    case 'number':
      return Object.is(x, -0) ? '-0' : String(x);
    case 'bigint':
      return `${x}n`;
    case 'boolean':
      return String(x);
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
  }
  return Array.isArray(x) ? 'an array' : 'an object';
}

/**
 * Plain objects and instances of ordinary classes (our own config classes included); not arrays,
 * functions, Dates, Maps and other built-ins whose data does not live in own enumerable fields.
 */
export function isPlainObject(x: unknown): x is Fields {
  return (
    typeof x === 'object' && x !== null && !Array.isArray(x) && Object.prototype.toString.call(x) === '[object Object]'
  );
}

/**
 * Checks that `raw` is an object with only `allowed` keys (the-algorithm-ml's BaseConfig forbids
 * extras) and returns its own known fields. Inherited properties are ignored on purpose: a config
 * value must be visible in the object itself, not smuggled in through a prototype.
 */
export function readObject(v: Validator, raw: unknown, path: string, allowed: readonly string[]): Fields | undefined {
  if (!isPlainObject(raw)) {
    v.add(path, `must be an object, got ${describe(raw)}`);
    return undefined;
  }
  const out: Fields = {};
  for (const key of Object.keys(raw)) {
    if (allowed.includes(key)) out[key] = raw[key];
    else v.add(at(path, key), `unknown field${hint(key, allowed)}`);
  }
  return out;
}

/** null counts as absent, as for pydantic's Optional fields (a bare `vocab:` in YAML is null). */
function present(v: Validator, o: Fields, key: string, path: string, required: boolean): boolean {
  const x = o[key];
  if (x !== undefined && x !== null) return true;
  if (required) v.add(at(path, key), x === null ? 'is required, got null' : 'is required');
  return false;
}

export type NumberRule = 'finite' | 'nonNegative' | 'int' | 'nonNegativeInt' | 'positiveInt';

const NUMBER_RULES: Record<NumberRule, [string, (n: number) => boolean]> = {
  finite: ['a finite number', Number.isFinite],
  nonNegative: ['a non-negative number', (n) => Number.isFinite(n) && n >= 0],
  int: ['an integer', Number.isSafeInteger],
  nonNegativeInt: ['a non-negative integer', (n) => Number.isSafeInteger(n) && n >= 0],
  positiveInt: ['a positive integer', (n) => Number.isSafeInteger(n) && n > 0],
};

export function checkNumber(v: Validator, x: unknown, path: string, rule: NumberRule): number | undefined {
  const [what, ok] = NUMBER_RULES[rule];
  if (typeof x === 'number' && ok(x)) return x;
  v.add(path, `must be ${what}, got ${describe(x)}`);
  return undefined;
}

export function readNumber(
  v: Validator,
  o: Fields,
  key: string,
  path: string,
  rule: NumberRule,
  required = false,
): number | undefined {
  if (!present(v, o, key, path, required)) return undefined;
  return checkNumber(v, o[key], at(path, key), rule);
}

/** Names and URIs: a blank string is as useless as a missing one. */
export function checkString(v: Validator, x: unknown, path: string): string | undefined {
  if (typeof x === 'string' && x.trim() !== '') return x;
  v.add(path, `must be a non-empty string, got ${describe(x)}`);
  return undefined;
}

export function readString(v: Validator, o: Fields, key: string, path: string, required = false): string | undefined {
  if (!present(v, o, key, path, required)) return undefined;
  return checkString(v, o[key], at(path, key));
}

/** Case-insensitive choice; `choices` is keyed by the lower-cased spelling. */
export function readChoice<T>(
  v: Validator,
  o: Fields,
  key: string,
  path: string,
  choices: Readonly<Record<string, T>>,
): T | undefined {
  if (!present(v, o, key, path, false)) return undefined;
  const x = o[key];
  if (typeof x === 'string' && Object.prototype.hasOwnProperty.call(choices, x.toLowerCase())) {
    return choices[x.toLowerCase()];
  }
  const names = [...new Set(Object.values(choices))].map((c) => JSON.stringify(c)).join(', ');
  v.add(at(path, key), `must be one of ${names} (any case), got ${describe(x)}`);
  return undefined;
}

export function readBoolean(v: Validator, o: Fields, key: string, path: string): boolean | undefined {
  if (!present(v, o, key, path, false)) return undefined;
  const x = o[key];
  if (typeof x === 'boolean') return x;
  v.add(at(path, key), `must be true or false, got ${describe(x)}`);
  return undefined;
}

/** A callback: only its type can be checked before it runs. */
export function readFunction<F extends (...args: never[]) => unknown>(
  v: Validator,
  o: Fields,
  key: string,
  path: string,
  required = false,
): F | undefined {
  if (!present(v, o, key, path, required)) return undefined;
  const x = o[key];
  if (typeof x === 'function') return x as F;
  v.add(at(path, key), `must be a function, got ${describe(x)}`);
  return undefined;
}

export function readArray(v: Validator, o: Fields, key: string, path: string, required = false): unknown[] | undefined {
  if (!present(v, o, key, path, required)) return undefined;
  const x = o[key];
  if (Array.isArray(x)) return x;
  v.add(at(path, key), `must be an array, got ${describe(x)}`);
  return undefined;
}

/** Applies `check` to every element; undefined if any element failed. */
export function readList<T>(
  v: Validator,
  o: Fields,
  key: string,
  path: string,
  check: (v: Validator, x: unknown, path: string) => T | undefined,
  required = false,
): T[] | undefined {
  const arr = readArray(v, o, key, path, required);
  if (arr === undefined) return undefined;
  const before = v.count;
  const out: T[] = [];
  for (let i = 0; i < arr.length; i++) {
    const item = check(v, arr[i], at(at(path, key), i));
    if (item !== undefined) out.push(item);
  }
  return v.count === before ? out : undefined;
}

export function readNested<T>(
  v: Validator,
  o: Fields,
  key: string,
  path: string,
  reader: Reader<T>,
  required = false,
): T | undefined {
  if (!present(v, o, key, path, required)) return undefined;
  return reader(v, o[key], at(path, key));
}

/** the-algorithm-ml's `one_of` groups: exactly one of `keys` must be set (not null). */
export function requireOneOf(v: Validator, o: Fields, keys: readonly string[], path: string): void {
  const set = keys.filter((k) => o[k] !== undefined && o[k] !== null);
  if (set.length === 1) return;
  const got = set.length === 0 ? 'none was set' : `got ${set.join(' and ')}`;
  v.add(path, `exactly one of ${keys.join(', ')} is required, ${got}`);
}

/** Reports the second and later occurrences of each name, pointing back at the first. */
export function checkUnique(
  v: Validator,
  names: readonly (string | undefined)[],
  pathOf: (i: number) => string,
  what: string,
): void {
  const first = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === undefined) return;
    const j = first.get(name);
    if (j === undefined) first.set(name, i);
    else v.add(pathOf(i), `duplicate ${what} ${JSON.stringify(name)} (first at ${pathOf(j)})`);
  });
}

/**
 * Options whose values belong to another reader (LargeEmbeddings' device and seed are the
 * collection's): checks only that `raw` is an object with `allowed` keys and returns those values
 * unchecked, to be handed on to their owner.
 */
export function readPassThrough<K extends string>(
  v: Validator,
  raw: unknown,
  path: string,
  allowed: readonly K[],
): Partial<Record<K, unknown>> | undefined {
  return readObject(v, raw, path, allowed) as Partial<Record<K, unknown>> | undefined;
}

/** Drops keys whose value is undefined so instances only carry the fields that are set. */
function compact<T extends object>(fields: T): T {
  const out: Fields = {};
  for (const [k, x] of Object.entries(fields)) if (x !== undefined) out[k] = x;
  return out as T;
}

/**
 * Turns a fields reader into a reader of class instances. The instance is built without running the
 * constructor because the fields are already validated; the constructor path and this path give
 * objects of the same shape.
 */
export function instanceReader<T extends object>(cls: { prototype: T }, read: Reader<Fields>): Reader<T> {
  return (v, raw, path) => {
    const before = v.count;
    const fields = read(v, raw, path);
    if (fields === undefined || v.count !== before) return undefined;
    return Object.assign(Object.create(cls.prototype) as T, compact(fields));
  };
}

function errorText(e: unknown): string {
  try {
    return e instanceof Error ? String(e.message) : describe(e);
  } catch {
    return 'unknown error';
  }
}

/**
 * Runs `read` on a constructor argument or an options object and throws one ConfigError listing
 * every issue. Anything else thrown while reading (a throwing getter, a revoked Proxy) becomes an
 * issue too, so that construction fails only with TorchrecError. The result has the reader's type.
 */
export function validateRoot<T extends object = Fields>(
  what: string,
  raw: unknown,
  read: Reader<T>,
  code: OptionsErrorCode = 'ERR_INVALID_CONFIG',
): T {
  const v = new Validator();
  let fields: T | undefined;
  try {
    fields = read(v, raw, '');
  } catch (e) {
    if (e instanceof TorchrecError) throw e;
    v.add('', `could not be read: ${errorText(e)}`);
  }
  if (v.count > 0 || fields === undefined) {
    throw new ConfigError(what, v.count > 0 ? v.issues : [{ path: '', message: 'could not be read' }], code);
  }
  return compact(fields);
}

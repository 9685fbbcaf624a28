/**
 * Reads a the-algorithm-ml style config file into a plain object. Validation is the caller's job:
 * a file holds a whole training config, and only the caller knows which block it wants, e.g.
 * `new LargeEmbeddingsConfig(cfg.model.embeddings)`.
 *
 * `${ENV}` is expanded inside parsed values, not in the raw text as the-algorithm-ml's
 * string.Template does: there an environment value holding a newline or a quote added keys to the
 * config. YAML: every string scalar (keys included) is expanded, and an unquoted one is then read
 * again as a YAML scalar, so `embedding_dim: ${DIM}` is still the integer 8 — but a value that would
 * read as a mapping or a list stays a string. JSON: inside a string a value is escaped as a JSON
 * string; outside one (`{"d": ${DIM}}`) it must be a JSON number, true, false or null.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readFileSync } from 'fs';
import { extname } from 'path';
import { parse as parseYaml, parseDocument, visit, type Tags } from 'yaml';
import { TorchrecError } from '../errors';
import { expandEnv, MAX_EXPANDED_LENGTH } from './env';
import { describe, isPlainObject } from './validate';

/** The largest config file read. */
export const MAX_CONFIG_BYTES = 64 * 1024 * 1024;

const BOOL_TAG = 'tag:yaml.org,2002:bool';
// PyYAML's YAML 1.1 booleans. The yaml package also reads y/Y/n/N as booleans, which would turn a
// key such as `y:` into `true:`; PyYAML keeps those as strings.
const PYYAML_TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const PYYAML_FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;

function pyyamlBooleans(tags: Tags): Tags {
  return tags.map((tag) => {
    if (typeof tag === 'string' || tag.tag !== BOOL_TAG || !('test' in tag) || tag.test === undefined) return tag;
    const isTrue = tag.test.test('true');
    return { ...tag, test: isTrue ? PYYAML_TRUE : PYYAML_FALSE };
  });
}

function fail(path: string, why: string): never {
  throw new TorchrecError('ERR_INVALID_CONFIG', `config file ${JSON.stringify(path)}: ${why}`);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Adds "line L, column C" to V8's "at position N" JSON errors, which Node 20 does not give. */
function jsonErrorText(text: string, e: unknown): string {
  const message = errorText(e);
  const m = /at position (\d+)/.exec(message);
  if (!m || /line \d+/.test(message)) return message;
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const column = Number(m[1]) - before.lastIndexOf('\n');
  return `${message} (line ${line}, column ${column})`;
}

// YAML 1.1 like PyYAML: 424_241 is the integer 424241, yes/no/on/off are booleans.
const YAML_OPTIONS = { version: '1.1', customTags: pyyamlBooleans } as const;

/** What an unquoted scalar holding `text` would have read as: a number, boolean or null, else the text. */
function plainScalar(text: string): unknown {
  let v: unknown;
  try {
    v = parseYaml(text, YAML_OPTIONS);
  } catch {
    return text;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (v === null && /^(?:~|null|Null|NULL)?$/.test(text.trim())) return null;
  return text;
}

/** Shares MAX_EXPANDED_LENGTH across the pieces of one file; its refusals name the file. */
class Budget {
  left = MAX_EXPANDED_LENGTH;
  constructor(private readonly path: string) {}
  expand(text: string, encode?: (value: string, name: string) => string): string {
    let out: string;
    try {
      out = expandEnv(text, process.env, { maxLength: Math.max(this.left, text.length), encode });
    } catch (e) {
      return fail(this.path, errorText(e));
    }
    this.left -= out.length;
    return out;
  }
}

function parseYamlExpanded(path: string, text: string): unknown {
  const doc = parseDocument(text, YAML_OPTIONS);
  if (doc.errors.length > 0) {
    // The yaml package's messages already say "at line L, column C" and quote the offending line.
    const hint = text.includes('${')
      ? ' (${...} is expanded inside values; inside a flow collection {...} or [...] quote it: "${NAME}")'
      : '';
    fail(path, `invalid YAML: ${errorText(doc.errors[0]).trimEnd()}${hint}`);
  }
  const budget = new Budget(path);
  visit(doc, {
    Scalar(key, node) {
      if (typeof node.value !== 'string' || !node.value.includes('$')) return;
      const expanded = budget.expand(node.value);
      // An explicitly tagged or quoted scalar, or a key, stays a string.
      const retype = key !== 'key' && node.type === 'PLAIN' && node.tag === undefined;
      node.value = retype ? plainScalar(expanded) : expanded;
    },
  });
  return doc.toJS();
}

const JSON_STRING = /"(?:[^"\\]|\\.)*"/gs;
const JSON_LITERAL = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)$/;

function jsonLiteral(value: string, name: string): string {
  const v = value.trim();
  if (JSON_LITERAL.test(v)) return v;
  throw new TorchrecError(
    'ERR_INVALID_CONFIG',
    `environment variable ${name} is used outside a JSON string, so it must hold a JSON number, true, false ` +
      `or null; it holds ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`,
  );
}

/** JSON text with variables expanded: escaped inside strings, JSON literals outside them. */
function expandJson(path: string, text: string): string {
  const budget = new Budget(path);
  let out = '';
  let last = 0;
  for (const m of text.matchAll(JSON_STRING)) {
    out += budget.expand(text.slice(last, m.index), jsonLiteral);
    out += budget.expand(m[0], (v) => JSON.stringify(v).slice(1, -1));
    last = (m.index as number) + m[0].length;
  }
  return out + budget.expand(text.slice(last), jsonLiteral);
}

function parseText(path: string, text: string): unknown {
  if (extname(path).toLowerCase() === '.json') {
    // JSON.parse rejects a byte-order mark that editors on Windows like to write.
    const body = expandJson(path, text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    try {
      return JSON.parse(body);
    } catch (e) {
      return fail(path, `invalid JSON: ${jsonErrorText(body, e)}`);
    }
  }
  return parseYamlExpanded(path, text);
}

function kindOf(st: ReturnType<typeof fstatSync>): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a regular file';
}

/** The file's text: a regular file only, opened without blocking (a FIFO would block this thread forever). */
function readConfigText(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    return fail(path, `cannot read: ${errorText(e)}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) fail(path, `cannot read: it is ${kindOf(st)}, not a regular file`);
    if (st.size > MAX_CONFIG_BYTES) {
      fail(path, `cannot read: it is ${st.size} bytes, more than the ${MAX_CONFIG_BYTES} a config may have`);
    }
    return readFileSync(fd, 'utf8');
  } catch (e) {
    if (e instanceof TorchrecError) throw e;
    return fail(path, `cannot read: ${errorText(e)}`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads a `.json` file (JSON) or any other file (YAML 1.1), expanding `$VAR`, `${VAR}` and
 * `${VAR:-default}` inside its values (see the file comment). Returns the parsed top-level mapping,
 * unvalidated.
 */
export function loadConfig(path: string): unknown {
  if (typeof path !== 'string' || path === '') {
    throw new TorchrecError(
      'ERR_INVALID_ARGUMENT',
      `loadConfig: path must be a non-empty string, got ${describe(path)}`,
    );
  }
  const parsed = parseText(path, readConfigText(path));
  if (!isPlainObject(parsed)) fail(path, `top level must be a mapping, got ${describe(parsed)}`);
  return parsed;
}

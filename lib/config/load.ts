/**
 * Reads a the-algorithm-ml style config file into a plain object. Validation is the caller's job:
 * a file holds a whole training config, and only the caller knows which block it wants, e.g.
 * `new LargeEmbeddingsConfig(cfg.model.embeddings)`.
 */
import { readFileSync } from 'fs';
import { extname } from 'path';
import { parse as parseYaml, type Tags } from 'yaml';
import { TorchrecError } from '../errors';
import { expandEnv } from './env';
import { describe, isPlainObject } from './validate';

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

function parseText(path: string, text: string): unknown {
  if (extname(path).toLowerCase() === '.json') {
    // JSON.parse rejects a byte-order mark that editors on Windows like to write.
    const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    try {
      return JSON.parse(body);
    } catch (e) {
      return fail(path, `invalid JSON: ${jsonErrorText(body, e)}`);
    }
  }
  try {
    // YAML 1.1 like PyYAML: 424_241 is the integer 424241, yes/no/on/off are booleans.
    return parseYaml(text, { version: '1.1', customTags: pyyamlBooleans });
  } catch (e) {
    // The yaml package's messages already say "at line L, column C" and quote the offending line.
    return fail(path, `invalid YAML: ${errorText(e).trimEnd()}`);
  }
}

/**
 * Loads a `.json` file (JSON) or any other file (YAML 1.1) after expanding `$VAR`, `${VAR}` and
 * `${VAR:-default}` in the raw text, as the-algorithm-ml does before parsing. Returns the parsed
 * top-level mapping, unvalidated.
 */
export function loadConfig(path: string): unknown {
  if (typeof path !== 'string' || path === '') {
    throw new TorchrecError(
      'ERR_INVALID_ARGUMENT',
      `loadConfig: path must be a non-empty string, got ${describe(path)}`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return fail(path, `cannot read: ${errorText(e)}`);
  }
  const parsed = parseText(path, expandEnv(text));
  if (!isPlainObject(parsed)) fail(path, `top level must be a mapping, got ${describe(parsed)}`);
  return parsed;
}

/**
 * Environment expansion of a config file's raw text, as the-algorithm-ml's load_config_from_yaml
 * does with `string.Template(text).safe_substitute(os.environ, USER=getpass.getuser())`: `$$` is a
 * literal `$`, `$NAME` and `${NAME}` are replaced, and unknown names are left exactly as written.
 * `${NAME:-default}` is an addition (shell semantics: the default when NAME is unset or empty).
 *
 * Environment values are not trusted to be small: the result is capped (MAX_EXPANDED_LENGTH) before
 * it is built, so a big value repeated many times is an ERR_INVALID_CONFIG instead of a RangeError
 * past V8's string limit. `encode` lets a caller escape or check each value for where it lands
 * (loadConfig: inside a JSON string, or as a JSON literal).
 */
import { userInfo } from 'os';
import { TorchrecError } from '../errors';

/** The longest text an expansion may produce (characters): far beyond any config, far below V8's limit. */
export const MAX_EXPANDED_LENGTH = 64 * 1024 * 1024;

export interface ExpandOptions {
  /** Refuse (ERR_INVALID_CONFIG) a result longer than this; default MAX_EXPANDED_LENGTH. */
  maxLength?: number;
  /** Applied to each value taken from the environment (not to `${NAME:-default}` defaults). */
  encode?: (value: string, name: string) => string;
}

// Python's Template idpattern is [_a-z][_a-z0-9]* matched case-insensitively (ASCII only).
const PATTERN = /\$(?:(\$)|([_a-z][_a-z0-9]*)|\{([_a-z][_a-z0-9]*)(?::-([^}]*))?\})/gi;

// Own properties only: `$constructor` must not find Object.prototype.constructor.
function lookup(env: NodeJS.ProcessEnv, name: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
}

/** getpass.getuser(): the first non-empty of LOGNAME, USER, LNAME, USERNAME, else the login name. */
function currentUser(env: NodeJS.ProcessEnv): string | undefined {
  for (const key of ['LOGNAME', 'USER', 'LNAME', 'USERNAME']) {
    const value = lookup(env, key);
    if (value) return value;
  }
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
}

export function expandEnv(text: string, env: NodeJS.ProcessEnv = process.env, o: ExpandOptions = {}): string {
  const maxLength = o.maxLength ?? MAX_EXPANDED_LENGTH;
  let length = text.length;
  const grow = (match: string, value: string, name: string): string => {
    length += value.length - match.length;
    if (length > maxLength) {
      throw new TorchrecError(
        'ERR_INVALID_CONFIG',
        `expanding environment variables (at \${${name}}) makes the text longer than ${maxLength} characters`,
      );
    }
    return value;
  };
  return text.replace(
    PATTERN,
    (
      match,
      escaped: string | undefined,
      bare: string | undefined,
      braced: string | undefined,
      fallback: string | undefined,
    ) => {
      if (escaped !== undefined) return '$';
      const name = (bare ?? braced) as string;
      // USER is passed as a keyword to safe_substitute, so it wins over os.environ['USER'].
      const value = name === 'USER' ? currentUser(env) : lookup(env, name);
      if (fallback !== undefined && !value) return grow(match, fallback, name);
      if (value === undefined) return match;
      // The length check comes first: an encoder must never see a value past the limit.
      grow(match, value, name);
      if (!o.encode) return value;
      length -= value.length - match.length; // count the encoded value instead
      return grow(match, o.encode(value, name), name);
    },
  );
}

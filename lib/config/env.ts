/**
 * Environment expansion of a config file's raw text, as the-algorithm-ml's load_config_from_yaml
 * does with `string.Template(text).safe_substitute(os.environ, USER=getpass.getuser())`: `$$` is a
 * literal `$`, `$NAME` and `${NAME}` are replaced, and unknown names are left exactly as written.
 * `${NAME:-default}` is an addition (shell semantics: the default when NAME is unset or empty).
 */
import { userInfo } from 'os';

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

export function expandEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
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
      if (fallback !== undefined) return value ? value : fallback;
      return value ?? match;
    },
  );
}

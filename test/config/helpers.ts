/** Shared assertions for the config tests: every failure must be one TorchrecError. */
import { TorchrecError } from '../../lib/errors';
import type { ConfigError } from '../../lib/config';

/** Runs `fn`, asserts it threw ERR_INVALID_CONFIG, and returns the error for further checks. */
export function configError(fn: () => unknown): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(TorchrecError);
  expect((caught as TorchrecError).code).toBe('ERR_INVALID_CONFIG');
  return caught as ConfigError;
}

/** Asserts `fn` fails with an issue at `path` whose message contains `fragment`, in both forms. */
export function expectIssue(fn: () => unknown, path: string, fragment: string): ConfigError {
  const err = configError(fn);
  expect(err.issues).toContainEqual({ path, message: expect.stringContaining(fragment) });
  expect(err.message).toContain(path === '' ? fragment : `${path}: `);
  expect(err.message).toContain(fragment);
  return err;
}

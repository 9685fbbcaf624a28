/**
 * The one way tests assert an error: a TorchrecError with the expected code whose message contains
 * every given fragment (strings or patterns) and nothing of C++ (no libtorch backtrace).
 */
import type { EmbeddingBagCollection, KeyedJaggedTensor } from '../../lib';
import type { ConfigError } from '../../lib/config';
// From errors.ts itself, not the package root: config tests should not load every module for it.
import { ERROR_CODES, TorchrecError } from '../../lib/errors';

/**
 * The codes a user can get for bad input: every code lib/errors.ts lists except the ones that mean the
 * library itself failed (ERR_INTERNAL) or was never loaded (ERR_NATIVE_LOAD).
 */
export const DOCUMENTED_CODES: readonly string[] = ERROR_CODES.filter(
  (c) => c !== 'ERR_INTERNAL' && c !== 'ERR_NATIVE_LOAD',
);

function checkError(caught: unknown, code: string, mentions: (string | RegExp)[]): TorchrecError {
  expect(caught).toBeInstanceOf(TorchrecError);
  const e = caught as TorchrecError;
  expect({ code: e.code, message: e.message }).toEqual({ code, message: expect.any(String) });
  for (const m of mentions) {
    if (typeof m === 'string') expect(e.message).toContain(m);
    else expect(e.message).toMatch(m);
  }
  // The binding strips libtorch's C++ backtrace; nothing of C++ should reach a user.
  expect(e.message).not.toMatch(/Exception raised from|frame #\d|c10::/);
  return e;
}

/** Runs `fn`, asserts a TorchrecError with `code` whose message contains every one of `mentions`. */
export function expectThrows(fn: () => unknown, code: string, ...mentions: (string | RegExp)[]): TorchrecError {
  let caught: unknown = undefined;
  let threw = false;
  try {
    fn();
  } catch (e) {
    caught = e;
    threw = true;
  }
  expect(threw).toBe(true);
  return checkError(caught, code, mentions);
}

/** Awaits `p`, asserts it rejected with a TorchrecError with `code` whose message has `mentions`. */
export async function expectRejects(
  p: Promise<unknown>,
  code: string,
  ...mentions: (string | RegExp)[]
): Promise<TorchrecError> {
  // A thenable check, not instanceof: see the realm test in test/api/forward_errors.test.ts.
  expect(typeof (p as { then?: unknown } | null)?.then).toBe('function');
  let caught: unknown = undefined;
  let rejected = false;
  try {
    await p;
  } catch (e) {
    caught = e;
    rejected = true;
  }
  expect(rejected).toBe(true);
  return checkError(caught, code, mentions);
}

/** Both entry points: forward rejects (never throws synchronously) and forwardSync throws. */
export async function expectForwardFails(
  ebc: EmbeddingBagCollection,
  kjt: unknown,
  code: string,
  ...mentions: (string | RegExp)[]
): Promise<void> {
  let pending: Promise<unknown> | undefined;
  expect(() => {
    pending = ebc.forward(kjt as KeyedJaggedTensor);
  }).not.toThrow();
  await expectRejects(pending as Promise<unknown>, code, ...mentions);
  expectThrows(() => ebc.forwardSync(kjt as KeyedJaggedTensor), code, ...mentions);
}

/** expectThrows for ERR_INVALID_CONFIG, returning the ConfigError with its `issues`. */
export function configError(fn: () => unknown, ...mentions: (string | RegExp)[]): ConfigError {
  return expectThrows(fn, 'ERR_INVALID_CONFIG', ...mentions) as ConfigError;
}

/** Asserts `fn` fails with an issue at `path` whose message contains `fragment`, in both forms. */
export function expectIssue(fn: () => unknown, path: string, fragment: string): ConfigError {
  const err = configError(fn);
  expect(err.issues).toContainEqual({ path, message: expect.stringContaining(fragment) });
  expect(err.message).toContain(path === '' ? fragment : `${path}: `);
  expect(err.message).toContain(fragment);
  return err;
}

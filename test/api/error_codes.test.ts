/**
 * One list of error codes: lib/errors.ts's ERROR_CODES. The native core names its codes in
 * native/core/error.cc; every one of them must be in the list, so a code added in C++ cannot reach
 * users without the TypeScript side (and its docs) knowing it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ERROR_CODES } from '../../lib/errors';

test('every code the native core can throw is in ERROR_CODES', () => {
  const source = fs.readFileSync(path.join(__dirname, '..', '..', 'native', 'core', 'error.cc'), 'utf8');
  const native = [...new Set(source.match(/"ERR_[A-Z_]+"/g)!.map((s) => s.slice(1, -1)))];
  expect(native.length).toBeGreaterThanOrEqual(15);
  expect(native.filter((c) => !(ERROR_CODES as readonly string[]).includes(c))).toEqual([]);
});

test('the codes are unique', () => {
  expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
});

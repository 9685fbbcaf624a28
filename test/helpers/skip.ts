/**
 * Tests that cannot run everywhere: skipped with the reason appended to the title, never silently.
 */

/** `describe`, or `describe.skip` with the reason in its title. */
export function describeIf(run: boolean, title: string, reason: string, body: () => void): void {
  if (run) {
    describe(title, body);
  } else {
    describe.skip(`${title} (skipped: ${reason})`, body);
  }
}

/** `test`, or `test.skip` with the reason in its title. */
export function testIf(
  run: boolean,
  title: string,
  reason: string,
  body: jest.ProvidesCallback,
  timeout?: number,
): void {
  if (run) {
    test(title, body, timeout);
  } else {
    test.skip(`${title} (skipped: ${reason})`, body, timeout);
  }
}

/**
 * (b) The source build: the packed main package installed into a fresh project with
 * TORCHREC_NODE_BUILD_FROM_SOURCE=1 builds with cmake-js through npm's install script, says so in one
 * line, and the project then runs a forward on that build (build/Release), not on any prebuilt.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  cleanEnv,
  ensurePackages,
  FIXTURE_TIMEOUT_MS,
  FORWARD_EXPECTED,
  FORWARD_JS,
  ok,
  Packages,
  parseLastJson,
  run,
} from './helpers';

let pk: Packages;
beforeAll(() => {
  pk = ensurePackages();
}, FIXTURE_TIMEOUT_MS);

test('the install script says it builds from source, and why, in one line', () => {
  const lines = pk.sourceInstall.output.split('\n').filter((l) => l.startsWith('torchrec-node: building from source'));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/with cmake-js against libtorch \d+\.\d+/);
  expect(lines[0]).toMatch(/: TORCHREC_NODE_BUILD_FROM_SOURCE=1$/);
  expect(pk.sourceInstall.output).toContain('torchrec-node: built build/Release/torchrec_node.node');
  expect(pk.sourceInstall.output).not.toContain('using prebuilt');
});

test('the built package runs a forward from a plain JS script, on build/Release', () => {
  fs.writeFileSync(path.join(pk.sourceProject, 'forward.js'), FORWARD_JS);
  const r = ok(run(process.execPath, ['forward.js'], { cwd: pk.sourceProject, env: cleanEnv() }), 'forward.js');
  const out = parseLastJson<{ keys: string[]; values: number[]; addon: string }>(r.stdout);
  expect(out.keys).toEqual(['f']);
  expect(out.values).toEqual(FORWARD_EXPECTED);
  expect(out.addon).toBe(
    path.join(pk.sourceProject, 'node_modules', 'torchrec-node', 'build', 'Release', 'torchrec_node.node'),
  );
});

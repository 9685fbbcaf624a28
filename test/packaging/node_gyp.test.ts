/**
 * (c) binding.gyp, the alternative build: node-gyp builds the same sources as CMakeLists.txt (in a copy
 * of the working tree, never this checkout's build/), with Node's headers from npm's `nodedir` (no
 * download), and the golden tests pass on that addon (TORCHREC_NODE_ADDON).
 */
import * as fs from 'fs';
import * as path from 'path';
import { BASE, cleanEnv, copyTree, FIXTURE_TIMEOUT_MS, mkdirOpen, NODE_MODULES, ok, run } from './helpers';

const dir = path.join(BASE, `gyp-${process.pid}-${Date.now()}`);
let nodedir: string | null = null;

/** npm's nodedir if set, else the prefix of this node when it ships its headers (include/node). */
function findNodedir(): string | null {
  const r = run('npm', ['config', 'get', 'nodedir'], { env: cleanEnv() });
  const fromNpm = r.stdout.trim();
  const candidates = [fromNpm, path.resolve(process.execPath, '..', '..')].filter((d) => d && d !== 'undefined');
  return candidates.find((d) => fs.existsSync(path.join(d, 'include', 'node', 'node_api.h'))) ?? null;
}

/** The .cc files CMakeLists.txt compiles into the addon (its globs), relative to the tree. */
function cmakeSources(root: string): string[] {
  const out = ['native/addon.cc'];
  for (const d of ['native/core', 'native/kernels', 'native/distributed', 'native/binding']) {
    for (const f of fs.readdirSync(path.join(root, d))) if (f.endsWith('.cc')) out.push(`${d}/${f}`);
  }
  return out.sort();
}

function objects(root: string): string[] {
  const base = path.join(root, 'build', 'Release', 'obj.target', 'torchrec_node');
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.o')) out.push(path.relative(base, p).replace(/\.o$/, '.cc'));
    }
  };
  if (fs.existsSync(base)) walk(base);
  return out.sort();
}

beforeAll(() => {
  mkdirOpen(BASE);
  copyTree(dir);
  nodedir = findNodedir();
}, FIXTURE_TIMEOUT_MS);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

test('Node headers are available locally (npm config get nodedir), so node-gyp downloads nothing', () => {
  expect(nodedir).not.toBeNull();
});

test(
  'node-gyp builds every source the CMake build compiles, and the golden tests pass on that addon',
  () => {
    const gyp = path.join(NODE_MODULES, 'node-gyp', 'bin', 'node-gyp.js');
    ok(
      run(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'], {
        cwd: dir,
        env: cleanEnv(),
        timeoutMs: FIXTURE_TIMEOUT_MS,
      }),
      'node-gyp rebuild',
    );
    const addon = path.join(dir, 'build', 'Release', 'torchrec_node.node');
    expect(fs.existsSync(addon)).toBe(true);
    expect(objects(dir)).toEqual(cmakeSources(dir));

    const jest = path.join(NODE_MODULES, 'jest', 'bin', 'jest.js');
    const r = run(process.execPath, [jest, '--ci', 'test/golden'], {
      cwd: dir,
      env: cleanEnv({ TORCHREC_NODE_ADDON: addon }),
      timeoutMs: 10 * 60 * 1000,
    });
    ok(r, 'jest test/golden');
    expect(r.stderr).toMatch(/Tests:\s+\d+ passed, \d+ total/);
    expect(r.stderr).not.toMatch(/failed/);
  },
  FIXTURE_TIMEOUT_MS,
);

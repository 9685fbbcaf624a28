/**
 * (a) The prebuilt path. The packed main and platform packages are installed into a fresh project with
 * no compiler reachable: PATH holds only links to node, npm and sh, CXX and CC point nowhere. The install
 * script must pick the prebuilt (one line saying so) and a plain JS script must run a forward on it.
 * Also: `--ignore-scripts` (the prebuilt is found at run time; without one, the error says what to run)
 * and a read-only node_modules (nothing is written at run time; a source build says why it cannot).
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  cleanEnv,
  ensurePackages,
  FIXTURE_TIMEOUT_MS,
  FORWARD_EXPECTED,
  FORWARD_JS,
  freshProject,
  npmInstall,
  ok,
  Packages,
  parseLastJson,
  removeCreated,
  run,
  RunResult,
  toolchainFreeBin,
} from './helpers';

const INSTALL_TIMEOUT_MS = 5 * 60 * 1000;
interface ForwardOut {
  keys: string[];
  values: number[];
  addon: string;
}

let pk: Packages;
let project: string;
let noCompilerEnv: NodeJS.ProcessEnv;
let install: RunResult;

beforeAll(() => {
  pk = ensurePackages();
  project = freshProject('prebuilt');
  const bin = toolchainFreeBin(project);
  noCompilerEnv = { HOME: process.env.HOME, PATH: bin, CXX: '/nonexistent', CC: '/nonexistent' };
  install = npmInstall(project, [pk.main, pk.platform], noCompilerEnv);
}, FIXTURE_TIMEOUT_MS);

afterAll(() => {
  if (project) run('chmod', ['-R', 'u+w', project]);
  removeCreated();
});

function forward(dir: string, env: NodeJS.ProcessEnv, user?: { uid: number; gid: number }) {
  fs.writeFileSync(path.join(dir, 'forward.js'), FORWARD_JS);
  return run(process.execPath, ['forward.js'], { cwd: dir, env, ...user });
}

test('no compiler, cmake or make is reachable in the install environment', () => {
  const probe = 'for c in c++ g++ gcc cc clang clang++ cmake make ninja ld; do command -v "$c" && exit 1; done; exit 0';
  const r = run('/bin/sh', ['-c', probe], { env: noCompilerEnv });
  expect({ status: r.status, found: r.stdout.trim() }).toEqual({ status: 0, found: '' });
  expect(fs.existsSync('/nonexistent')).toBe(false);
});

test('npm install picks the prebuilt, says so in one line, and compiles nothing', () => {
  ok(install, 'npm install');
  const lines = install.output.split('\n').filter((l) => l.startsWith('torchrec-node: '));
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^torchrec-node: using prebuilt @torchrec-node\/linux-x64 \(libtorch \d+\.\d+ CPU/);
  expect(lines[0]).toMatch(/for libtorch \d+\.\d+\.\d+ .*; nothing to compile$/);
  expect(fs.existsSync(path.join(project, 'node_modules', 'torchrec-node', 'build'))).toBe(false);
  const flavour = JSON.parse(
    fs.readFileSync(path.join(project, 'node_modules', '@torchrec-node', 'linux-x64', 'flavour.json'), 'utf8'),
  );
  expect(flavour).toMatchObject({ platform: 'linux', arch: 'x64', libc: 'glibc', cuda: false, relocatable: true });
  expect(flavour.cxx11Abi).toBe(1);
});

test('a plain JS script runs a forward on the prebuilt, still with no compiler on PATH', () => {
  const r = ok(forward(project, noCompilerEnv), 'forward.js');
  const out = parseLastJson<ForwardOut>(r.stdout);
  expect(out.values).toEqual(FORWARD_EXPECTED);
  expect(out.addon).toBe(path.join(project, 'node_modules', '@torchrec-node', 'linux-x64', 'torchrec_node.node'));
});

describe('npm install --ignore-scripts', () => {
  test(
    'with the platform package installed, the run-time loader finds the prebuilt by itself',
    () => {
      const dir = freshProject('ignore-scripts');
      toolchainFreeBin(dir);
      const env = { ...noCompilerEnv, PATH: path.join(dir, '.bin-no-compiler') };
      ok(npmInstall(dir, ['--ignore-scripts', pk.main, pk.platform], env), 'npm install --ignore-scripts');
      const out = parseLastJson<ForwardOut>(ok(forward(dir, env), 'forward.js').stdout);
      expect(out.values).toEqual(FORWARD_EXPECTED);
      expect(out.addon).toContain(path.join('@torchrec-node', 'linux-x64'));
    },
    INSTALL_TIMEOUT_MS,
  );

  test(
    'without it, the first native call says what to run',
    () => {
      const dir = freshProject('ignore-scripts-no-prebuilt');
      ok(npmInstall(dir, ['--ignore-scripts', '--omit=optional', pk.main], cleanEnv()), 'npm install');
      expect(fs.existsSync(path.join(dir, 'node_modules', '@torchrec-node'))).toBe(false);
      const r = forward(dir, cleanEnv());
      expect(r.status).toBe(1);
      const err = parseLastJson<{ code: string; message: string }>(r.stderr);
      expect(err.code).toBe('ERR_NATIVE_LOAD');
      expect(err.message).toContain('no prebuilt package for linux-x64 is installed');
      expect(err.message).toContain('`npm install --ignore-scripts`');
      expect(err.message).toContain('run `npm rebuild torchrec-node`');
    },
    INSTALL_TIMEOUT_MS,
  );
});

describe('a read-only node_modules', () => {
  // As root, file modes do not stop writes: run as `nobody` then. Otherwise the modes suffice.
  const asOther = process.getuid && process.getuid() === 0 ? { uid: 65534, gid: 65534 } : undefined;
  const installJs = () => path.join(project, 'node_modules', 'torchrec-node', 'scripts', 'install.js');

  beforeAll(() => {
    ok(run('chmod', ['-R', 'a-w', path.join(project, 'node_modules')]), 'chmod');
  });

  test('the prebuilt loads and runs (nothing is written at run time)', () => {
    const out = parseLastJson<ForwardOut>(ok(forward(project, noCompilerEnv, asOther), 'forward.js').stdout);
    expect(out.values).toEqual(FORWARD_EXPECTED);
  });

  test('the install script still picks the prebuilt (it writes nothing for that)', () => {
    const r = run(process.execPath, [installJs()], { env: cleanEnv(), ...asOther });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^torchrec-node: using prebuilt @torchrec-node\/linux-x64/);
  });

  test('a source build fails with one message saying the package directory is not writable', () => {
    const r = run(process.execPath, [installJs()], {
      env: cleanEnv({ TORCHREC_NODE_BUILD_FROM_SOURCE: '1' }),
      ...asOther,
    });
    expect(r.status).toBe(1);
    const messages = r.stderr.split('\n').filter((l) => l.startsWith('torchrec-node:'));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(/cannot write .*node_modules\/torchrec-node\/build \((EACCES|EROFS|EPERM)\)/);
    expect(messages[0]).toContain('TORCHREC_NODE_ADDON=');
  });
});

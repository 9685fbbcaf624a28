/**
 * Bad environments, each answered by one clear message, at install time (scripts/install.js) and at run
 * time (lib/loader.ts): no libtorch anywhere, a libtorch older than 1.13, prebuilts that do not match the
 * libtorch found (version, C++ ABI, CUDA, platform), a prebuilt that claims to match but does not load or
 * crashes (checked in a child process, so the installer survives and falls back to the source build), and
 * a matching prebuilt linked against libtorch in another directory (re-pointed, not rebuilt).
 *
 * Each case runs in a scratch copy of the installed layout: <project>/node_modules/torchrec-node with the
 * install-time scripts, and <project>/node_modules/@torchrec-node/linux-x64 holding the real prebuilt
 * from the packaging fixture, its flavour.json edited per case.
 */
import * as fs from 'fs';
import * as path from 'path';
import { findAddon } from '../../lib/loader';
import {
  cleanEnv,
  ensurePackages,
  FIXTURE_TIMEOUT_MS,
  freshProject,
  ok,
  Packages,
  REPO,
  removeCreated,
  run,
  toolchainFreeBin,
} from './helpers';
import { testIf } from '../helpers/skip';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const locate = require(path.join(REPO, 'scripts', 'libtorch-locate.js'));
const SCRIPTS = ['install.js', 'libtorch-locate.js', 'prebuilt.js', 'cmake-build.js', 'find-libtorch.js'];
const NOWHERE = '/nonexistent/torchrec-node-test';

let pk: Packages;
let version: string;
beforeAll(() => {
  pk = ensurePackages();
  version = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;
}, FIXTURE_TIMEOUT_MS);

afterAll(removeCreated);

interface Scratch {
  project: string;
  root: string;
}

/** node_modules/torchrec-node (scripts + package.json) and, unless flavour is null, the platform package. */
function scratch(name: string, flavour: Record<string, unknown> | null, addon?: string): Scratch {
  const project = freshProject(name);
  const root = path.join(project, 'node_modules', 'torchrec-node');
  fs.mkdirSync(path.join(root, 'scripts'), { recursive: true });
  for (const f of SCRIPTS) fs.copyFileSync(path.join(REPO, 'scripts', f), path.join(root, 'scripts', f));
  const pkg = { name: 'torchrec-node', version, optionalDependencies: { '@torchrec-node/linux-x64': version } };
  fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify(pkg));
  if (flavour) {
    const staged = path.join(pk.src, 'npm', 'linux-x64');
    const dir = path.join(project, 'node_modules', '@torchrec-node', 'linux-x64');
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(staged, 'package.json'), path.join(dir, 'package.json'));
    fs.copyFileSync(addon ?? path.join(staged, 'torchrec_node.node'), path.join(dir, 'torchrec_node.node'));
    const real = JSON.parse(fs.readFileSync(path.join(staged, 'flavour.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'flavour.json'), JSON.stringify({ ...real, ...flavour }));
  }
  return { project, root };
}

interface Plan {
  action: string;
  why?: string;
  line?: string;
  message?: string;
}

function plan(s: Scratch, env: NodeJS.ProcessEnv = cleanEnv()): Plan {
  const code = `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(s.root, 'scripts', 'install.js'))}).plan()))`;
  return JSON.parse(ok(run(process.execPath, ['-e', code], { env }), 'plan()').stdout) as Plan;
}

function installJs(s: Scratch, env: NodeJS.ProcessEnv = cleanEnv()) {
  return run(process.execPath, [path.join(s.root, 'scripts', 'install.js')], { env });
}

const messageLines = (text: string) => text.split('\n').filter((l) => l.startsWith('torchrec-node:'));

/** Runs fn with process.env extended (the run-time loader reads process.env). */
function withEnv<T>(extra: Record<string, string>, fn: () => T): T {
  const saved = { ...process.env };
  Object.assign(process.env, extra);
  try {
    return fn();
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe('no libtorch anywhere', () => {
  const noTorchEnv = { LIBTORCH: NOWHERE, TORCHREC_NODE_TEST_LIBTORCH_SOURCES: 'LIBTORCH,Torch_DIR' };

  test('discovery with every search root pointing nowhere finds nothing and says what it tried', () => {
    const r = locate.locateLibtorch({
      env: { LIBTORCH: NOWHERE, Torch_DIR: `${NOWHERE}/cmake` },
      pythons: [`${NOWHERE}/python3`],
      systemDirs: [`${NOWHERE}/usr/lib/cmake/Torch`],
    });
    expect(r.found).toBeNull();
    expect(r.tried).toEqual([
      `LIBTORCH=${NOWHERE} (no libtorch there)`,
      `Torch_DIR=${NOWHERE}/cmake (no TorchConfig.cmake with libtorch there)`,
      `${NOWHERE}/python3 (no torch)`,
      'system (no libtorch-dev)',
    ]);
  });

  test('the install fails with one message naming all four ways, and writes nothing', () => {
    const s = scratch('no-libtorch', null);
    const r = installJs(s, cleanEnv(noTorchEnv));
    expect(r.status).toBe(1);
    expect(messageLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('torchrec-node: libtorch was not found');
    for (const way of ['1. set LIBTORCH', '2. set Torch_DIR', '3. install PyTorch for python3', 'libtorch-dev']) {
      expect(r.stderr).toContain(way);
    }
    expect(r.stderr).toContain(`Tried: LIBTORCH=${NOWHERE} (no libtorch there).`);
    expect(fs.existsSync(path.join(s.root, 'build'))).toBe(false);
  });

  test('at run time, the first native call says the same and what to run after', () => {
    const s = scratch('no-libtorch-runtime', {});
    const r = withEnv(noTorchEnv, () => findAddon({}, s.root));
    expect(r.found).toBeNull();
    const message = (r as { message: string }).message;
    expect(message).toContain('libtorch was not found');
    expect(message).toContain('Then run `npm rebuild torchrec-node`.');
  });
});

describe('a libtorch older than 1.13', () => {
  // The layout of an unpacked LibTorch 1.12.1, with the files discovery reads (version, ABI, libraries).
  function oldLibtorch(): string {
    const dir = path.join(freshProject('libtorch-1.12'), 'libtorch');
    const cmake = path.join(dir, 'share', 'cmake', 'Torch');
    fs.mkdirSync(cmake, { recursive: true });
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.mkdirSync(path.join(dir, 'include', 'torch', 'csrc', 'api', 'include'), { recursive: true });
    fs.writeFileSync(path.join(cmake, 'TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")\n');
    fs.writeFileSync(path.join(cmake, 'TorchConfigVersion.cmake'), 'set(PACKAGE_VERSION "1.12.1")\n');
    fs.writeFileSync(path.join(dir, 'build-version'), '1.12.1+cpu\n');
    fs.writeFileSync(path.join(dir, 'lib', 'libtorch.so'), '');
    return dir;
  }

  test('the install and the node-gyp discovery each refuse it with one message', () => {
    const env = cleanEnv({ LIBTORCH: oldLibtorch() });
    const s = scratch('old-libtorch', {});
    for (const r of [
      installJs(s, env),
      run(process.execPath, [path.join(s.root, 'scripts', 'find-libtorch.js')], { env }),
    ]) {
      expect(r.status).toBe(1);
      expect(messageLines(r.stderr)).toEqual([
        expect.stringMatching(
          /^torchrec-node: libtorch 1\.12\.1 \(CPU, C\+\+11 ABI\) from LIBTORCH .* is too old; torchrec-node supports libtorch 1\.13 through 2\.x\./,
        ),
      ]);
    }
  });
});

describe('a prebuilt that does not match the libtorch found', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      'another libtorch version',
      { torchVersion: '2.5.1' },
      /@torchrec-node\/linux-x64 is for libtorch 2\.5 CPU, _GLIBCXX_USE_CXX11_ABI=1; yours is libtorch 1\.13/,
    ],
    ['the other C++ ABI', { cxx11Abi: 0 }, /is built with _GLIBCXX_USE_CXX11_ABI=0; your libtorch uses 1/],
    [
      'a CUDA build',
      { cuda: true, cudaVersion: '12.4' },
      /is for libtorch 1\.13 CUDA 12\.4, .*; your libtorch is CPU-only/,
    ],
    ['another platform', { arch: 'arm64' }, /is for linux-arm64, this machine is linux-x64/],
    [
      'another directory, not relocatable',
      { libtorchDir: `${NOWHERE}/lib`, relocatable: false },
      /cannot be re-pointed/,
    ],
  ];

  test.each(cases)('%s: the install falls back to the source build and says why', (_name, flavour, why) => {
    const p = plan(scratch('mismatch', flavour));
    expect(p.action).toBe('build');
    expect(p.why).toMatch(/^no prebuilt matches \(/);
    expect(p.why).toMatch(why);
  });

  test('at run time, the loader does not load it and says what to run', () => {
    const s = scratch('mismatch-runtime', { torchVersion: '2.5.1' });
    const r = findAddon({}, s.root);
    expect(r.found).toBeNull();
    const message = (r as { message: string }).message;
    expect(message).toMatch(
      /no installed prebuilt matches libtorch 1\.13\.\d .*@torchrec-node\/linux-x64 is for libtorch 2\.5/,
    );
    expect(message).toContain('`npm rebuild torchrec-node`');
  });
});

describe('a prebuilt that claims to match but is broken', () => {
  test('a file that is not a shared library: the check in a child process fails, the install builds instead', () => {
    const junk = path.join(freshProject('junk'), 'junk.node');
    fs.writeFileSync(junk, 'not an ELF file\n');
    const p = plan(scratch('junk-prebuilt', {}, junk));
    expect(p.action).toBe('build');
    expect(p.why).toMatch(
      /prebuilt @torchrec-node\/linux-x64 .* matches but does not load: .*(invalid ELF header|too short)/,
    );
  });

  const cc = run('/bin/sh', ['-c', 'command -v cc']).stdout.trim();
  testIf(
    cc !== '',
    'a library that crashes when loaded: only the child dies, the install goes on',
    'no C compiler `cc` on PATH',
    () => {
      const dir = freshProject('crash');
      fs.writeFileSync(
        path.join(dir, 'crash.c'),
        '__attribute__((constructor)) static void boom(void) { *(volatile int *)0 = 1; }\n',
      );
      ok(run(cc, ['-shared', '-fPIC', '-o', path.join(dir, 'crash.node'), path.join(dir, 'crash.c')]), 'cc');
      const s = scratch('crash-prebuilt', {}, path.join(dir, 'crash.node'));
      const p = plan(s);
      expect(p.action).toBe('build');
      expect(p.why).toMatch(/matches but does not load: loading it crashed the process \(SIGSEGV\)/);

      // End to end, with no toolchain: the line says which and why, then one message says what is missing.
      const bin = toolchainFreeBin(s.project);
      const r = installJs(s, { HOME: process.env.HOME, PATH: bin, CXX: '/nonexistent' });
      expect(r.signal).toBeNull();
      expect(r.status).toBe(1);
      expect(messageLines(r.stdout)).toEqual([
        expect.stringMatching(/^torchrec-node: building from source with cmake-js .*SIGSEGV/),
      ]);
      expect(messageLines(r.stderr)).toEqual([
        expect.stringMatching(
          /^torchrec-node: the source build needs cmake and the C\+\+ compiler CXX=\/nonexistent, which are not on PATH\. .*`npm rebuild torchrec-node`\.$/,
        ),
      ]);
    },
  );
});

describe('a matching prebuilt linked against libtorch in another directory', () => {
  test('the install re-points a copy at the libtorch found (build/Prebuilt), and the loader uses it', () => {
    const s = scratch('relocate', { libtorchDir: `${NOWHERE}/lib` });
    expect(plan(s).action).toBe('relocate');
    const r = ok(installJs(s), 'install.js');
    expect(messageLines(r.stdout)).toEqual([
      expect.stringMatching(
        /^torchrec-node: using prebuilt @torchrec-node\/linux-x64 .* re-pointed at that libtorch in build\/Prebuilt; nothing to compile$/,
      ),
    ]);
    const dir = path.join(s.root, 'build', 'Prebuilt');
    const torchLib = locate.locateLibtorch().found.libDir;
    expect(fs.readlinkSync(path.join(dir, 'libtorch'))).toBe(torchLib);
    const ldd = run('ldd', [path.join(dir, 'torchrec_node.node')]);
    const escaped = dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (ldd.status === 0)
      expect(ldd.stdout).toMatch(new RegExp(`libtorch\\.so\\S* => ${escaped}/libtorch/libtorch\\.so`));

    const found = findAddon({}, s.root);
    expect(found.found?.path).toBe(path.join(dir, 'torchrec_node.node'));
    const load = run(process.execPath, ['-p', `require(${JSON.stringify(found.found!.path)}).buildInfo.torchVersion`]);
    expect(ok(load, 'load').stdout.trim()).toMatch(/^\d+\.\d+/);
  });
});

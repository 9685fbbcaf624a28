/**
 * Shared fixture of the packaging tests: the package as users get it. Built once per set of inputs and
 * kept under $TMPDIR/torchrec-node-packaging/<hash> (the hash covers the sources, the scripts, the
 * package manifests, the libtorch found and Node's version), so every test file of one run, and later
 * runs with the same inputs, share it:
 *   1. a copy of the working tree (never this checkout's build/), TypeScript built, the main package packed;
 *   2. a fresh project that installs that tarball with TORCHREC_NODE_BUILD_FROM_SOURCE=1: the install
 *      script's source build, through npm, exactly as a user runs it;
 *   3. that build staged as the platform package (scripts/prebuild.js --from-addon, so the sources are
 *      compiled once), and both packages packed (scripts/pack.js).
 */
import { spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const REPO = path.resolve(__dirname, '..', '..');
export const BASE = path.join(os.tmpdir(), 'torchrec-node-packaging');
export const NODE_MODULES = path.join(REPO, 'node_modules');
export const FIXTURE_TIMEOUT_MS = 30 * 60 * 1000;

export interface RunResult {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  output: string;
}

/** Runs a command to completion; never throws for a non-zero exit. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; uid?: number; gid?: number } = {},
): RunResult {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 20 * 60 * 1000,
    maxBuffer: 64 * 1024 * 1024,
    uid: opts.uid,
    gid: opts.gid,
  });
  const stdout = r.stdout ?? '';
  const stderr = (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : '');
  return { status: r.status, signal: r.signal, stdout, stderr, output: `${stdout}\n${stderr}` };
}

/** The environment of a child process: this one's, minus whatever points the addon somewhere. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('TORCHREC_NODE_') || k.startsWith('npm_') || k === 'NODE_OPTIONS') delete env[k];
  }
  return { ...env, ...extra };
}

const TOP_EXCLUDE = new Set(['node_modules', '.git', 'build', 'dist', 'packs', 'coverage', 'bench']);

/** Copies the working tree (sources, scripts, tests; no build output, no staged binaries) to dst. */
export function copyTree(dst: string): void {
  fs.rmSync(dst, { recursive: true, force: true });
  fs.cpSync(REPO, dst, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => {
      const rel = path.relative(REPO, src);
      if (!rel) return true;
      const parts = rel.split(path.sep);
      if (TOP_EXCLUDE.has(parts[0]) || parts[0].startsWith('build-')) return false;
      if (parts[0] === 'npm' && parts.length === 3 && /\.node$|^flavour\.json$/.test(parts[2])) return false;
      return !rel.endsWith('.tgz');
    },
  });
  fs.symlinkSync(NODE_MODULES, path.join(dst, 'node_modules'));
}

function hashInputs(): string {
  const h = crypto.createHash('sha256');
  const visit = (rel: string) => {
    const abs = path.join(REPO, rel);
    if (!fs.existsSync(abs)) return;
    const st = fs.statSync(abs);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(abs).sort()) visit(path.join(rel, e));
    } else if (!/\.node$|flavour\.json$/.test(rel)) {
      h.update(rel).update('\0').update(fs.readFileSync(abs)).update('\0');
    }
  };
  for (const rel of ['lib', 'native', 'scripts', 'cmake', 'esm', 'npm', 'docs', 'CMakeLists.txt', 'binding.gyp']) {
    visit(rel);
  }
  for (const rel of ['package.json', 'tsconfig.json', 'README.md']) visit(rel);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const locate = require(path.join(REPO, 'scripts', 'libtorch-locate.js'));
  const found = locate.locateLibtorch().found;
  h.update(JSON.stringify(found)).update(process.version);
  return h.digest('hex').slice(0, 16);
}

/** A directory others can read (the read-only tests run as another user). */
export function mkdirOpen(dir: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  return dir;
}

const created: string[] = [];

/** A new empty project directory under BASE (removed by removeCreated()). */
export function freshProject(name: string): string {
  mkdirOpen(BASE);
  const dir = path.join(BASE, `${name}-${process.pid}-${Date.now()}`);
  mkdirOpen(dir);
  created.push(dir);
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
  );
  return dir;
}

/** Removes the directories freshProject() made in this test file (call from afterAll). */
export function removeCreated(): void {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Removes what earlier runs left under BASE: fixtures of other inputs and projects, after two hours. */
function pruneOld(keep: string): void {
  const cutoff = Date.now() - 2 * 60 * 60 * 1000;
  for (const e of fs.readdirSync(BASE)) {
    const p = path.join(BASE, e);
    if (p === keep || e.endsWith('.lock')) continue;
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st && st.mtimeMs < cutoff) fs.rmSync(p, { recursive: true, force: true });
  }
}

export function npmInstall(project: string, args: string[], env: NodeJS.ProcessEnv): RunResult {
  return run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', ...args], {
    cwd: project,
    env,
    timeoutMs: FIXTURE_TIMEOUT_MS,
  });
}

export interface Packages {
  dir: string;
  src: string;
  /** The main package without optionalDependencies (what the source-build project installed). */
  mainSourceOnly: string;
  /** The main package listing the platform package, and the platform package. */
  main: string;
  platform: string;
  /** The project that installed mainSourceOnly with TORCHREC_NODE_BUILD_FROM_SOURCE=1. */
  sourceProject: string;
  sourceInstall: RunResult;
  error?: string;
}

function tgz(dir: string, re: RegExp): string {
  const f = fs.readdirSync(dir).find((n) => re.test(n));
  if (!f) throw new Error(`no tarball matching ${re} in ${dir}`);
  return path.join(dir, f);
}

function buildPackages(dir: string): Packages {
  const src = path.join(dir, 'src');
  copyTree(src);
  const node = process.execPath;
  const step = (what: string, r: RunResult) => {
    if (r.status !== 0) throw new Error(`${what} failed (${r.status ?? r.signal}):\n${r.output.slice(-6000)}`);
    return r;
  };
  step('tsc', run(node, [path.join(NODE_MODULES, 'typescript', 'bin', 'tsc'), '-p', src], { cwd: src }));
  const sourcePacks = path.join(dir, 'packs-source');
  step(
    'pack (main)',
    run(node, ['scripts/pack.js', '--main-only', '--out', sourcePacks], { cwd: src, env: cleanEnv() }),
  );
  const mainSourceOnly = tgz(sourcePacks, /^torchrec-node-\d.*\.tgz$/);

  const sourceProject = mkdirOpen(path.join(dir, 'source-project'));
  fs.writeFileSync(path.join(sourceProject, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0' }));
  const sourceInstall = npmInstall(sourceProject, [mainSourceOnly], cleanEnv({ TORCHREC_NODE_BUILD_FROM_SOURCE: '1' }));
  step('npm install with TORCHREC_NODE_BUILD_FROM_SOURCE=1', sourceInstall);
  const built = path.join(sourceProject, 'node_modules', 'torchrec-node', 'build', 'Release', 'torchrec_node.node');
  step('prebuild', run(node, ['scripts/prebuild.js', '--from-addon', built], { cwd: src, env: cleanEnv() }));
  const packs = path.join(dir, 'packs');
  step('pack (all)', run(node, ['scripts/pack.js', '--out', packs], { cwd: src, env: cleanEnv() }));
  return {
    dir,
    src,
    mainSourceOnly,
    main: tgz(packs, /^torchrec-node-\d.*\.tgz$/),
    platform: tgz(packs, /^torchrec-node-linux-.*\.tgz$/),
    sourceProject,
    sourceInstall,
  };
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * The packed packages for the current inputs, built on first use (several minutes: one full compile).
 * One jest run uses one fixture: the first test file to ask records its hash for the run (workers share
 * their parent's pid), so sources edited while the run goes on do not cause a second compile.
 */
export function ensurePackages(): Packages {
  mkdirOpen(BASE);
  const runKey = String(process.env.JEST_WORKER_ID ? process.ppid : process.pid);
  const runFile = path.join(BASE, `run-${runKey}.json`);
  let hash = fs.existsSync(runFile) ? (JSON.parse(fs.readFileSync(runFile, 'utf8')) as { hash: string }).hash : '';
  if (!hash) {
    hash = hashInputs();
    fs.writeFileSync(runFile, JSON.stringify({ hash }));
  }
  const dir = path.join(BASE, hash);
  const done = path.join(dir, 'done.json');
  const lock = `${dir}.lock`;
  for (;;) {
    if (fs.existsSync(done)) {
      const p = JSON.parse(fs.readFileSync(done, 'utf8')) as Packages & { run?: string };
      if (!p.error) return p;
      // A failure is reported to every test file of the run that hit it; a later run tries again.
      if (p.run === runKey) throw new Error(`the packaging fixture failed:\n${p.error}`);
      fs.rmSync(done, { force: true });
    }
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      const st = fs.statSync(lock, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > FIXTURE_TIMEOUT_MS) fs.rmSync(lock, { recursive: true, force: true });
      else sleep(2000);
    }
  }
  try {
    if (fs.existsSync(done)) return ensurePackages();
    pruneOld(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    mkdirOpen(dir);
    let p: Packages;
    try {
      p = buildPackages(dir);
    } catch (e) {
      fs.writeFileSync(done, JSON.stringify({ error: (e as Error).message, run: runKey }));
      throw e;
    }
    fs.writeFileSync(done, JSON.stringify(p));
    return p;
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** A PATH holding only node, npm and sh: no compiler, no cmake, no make reachable through it. */
export function toolchainFreeBin(project: string): string {
  const bin = mkdirOpen(path.join(project, '.bin-no-compiler'));
  for (const [name, target] of [
    ['node', process.execPath],
    ['npm', '/usr/bin/npm'],
    ['sh', '/bin/sh'],
  ]) {
    fs.symlinkSync(target, path.join(bin, name));
  }
  return bin;
}

/** A plain JS consumer: one forward, then the values and which torchrec_node.node the process mapped. */
export const FORWARD_JS = `
const { EmbeddingBagCollection, KeyedJaggedTensor } = require('torchrec-node');
const fs = require('fs');
(async () => {
  const ebc = new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: 10, embedding_dim: 4, feature_names: ['f'] }], seed: 0 });
  ebc.setWeights('t', Float32Array.from({ length: 40 }, (_, i) => i));
  const kjt = KeyedJaggedTensor.fromLengths({ keys: ['f'], values: new BigInt64Array([1n, 2n, 3n]), lengths: new Int32Array([2, 1]) });
  const kt = await ebc.forward(kjt);
  const addon = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5])
    .find((p) => p && p.endsWith('torchrec_node.node'));
  console.log(JSON.stringify({ keys: kt.keys(), values: Array.from(kt.values()), addon }));
})().catch((e) => { console.error(JSON.stringify({ code: e.code, message: e.message })); process.exit(1); });
`;

/** What FORWARD_JS prints for rows i → [4i, 4i+1, 4i+2, 4i+3], ids {1,2} and {3}. */
export const FORWARD_EXPECTED = [12, 14, 16, 18, 12, 13, 14, 15];

export function parseLastJson<T>(text: string): T {
  const line = text
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON line in:\n${text}`);
  return JSON.parse(line) as T;
}

/** Fails with the command's whole output unless it exited 0. */
export function ok(r: RunResult, what = 'command'): RunResult {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}:\n${r.output.slice(-8000)}`);
  return r;
}

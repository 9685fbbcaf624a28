// Prebuilt binaries: the per-platform packages @torchrec-node/<flavour> (optionalDependencies of the
// main package, each with os/cpu/libc), each holding torchrec_node.node and flavour.json (what libtorch
// it was built against). This module lists the installed ones, matches them against the libtorch found
// by libtorch-locate.js, verifies one loads in a child process, and "relocates" one whose libtorch lives
// elsewhere. Used by scripts/install.js (install time) and lib/loader.ts (run time). Plain CommonJS.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const { parseVersion } = require('./libtorch-locate');

const SCOPE = '@torchrec-node';
const ADDON_FILE = 'torchrec_node.node';
/** The N-API version the addon is compiled for (CMakeLists.txt and binding.gyp: NAPI_VERSION=8). */
const NAPI_VERSION = 8;
/** Where install.js puts a prebuilt re-pointed at a libtorch in another directory (see relocate). */
const RELOCATED_DIR = path.join('build', 'Prebuilt');

let platformCache = null;
/** { platform, arch, libc, glibc }: libc is 'glibc' or 'musl' on Linux, null elsewhere. */
function platformInfo() {
  if (platformCache) return platformCache;
  let libc = null;
  let glibc = null;
  if (process.platform === 'linux') {
    const header = process.report && process.report.getReport ? process.report.getReport().header : {};
    glibc = header.glibcVersionRuntime || null;
    libc = glibc ? 'glibc' : 'musl';
  }
  platformCache = { platform: process.platform, arch: process.arch, libc, glibc };
  return platformCache;
}

/** The default flavour name for a libtorch on this machine: linux-x64, linux-x64-cu12, linux-arm64-musl… */
function defaultFlavour(torch) {
  const p = platformInfo();
  let name = `${p.platform}-${p.arch}`;
  if (p.libc === 'musl') name += '-musl';
  if (torch && torch.cuda) name += `-cu${String(torch.cudaVersion || '').split('.')[0] || 'da'}`;
  return name;
}

function readJson(file) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Package directories that may hold @torchrec-node/<flavour>, as Node's resolution would find them. */
function scopeDirs(pkgRoot) {
  const dirs = [];
  let dir = path.resolve(pkgRoot);
  for (;;) {
    if (path.basename(dir) !== 'node_modules') dirs.push(path.join(dir, 'node_modules', SCOPE));
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return dirs;
}

/**
 * The platform packages installed for the package at pkgRoot: those named in its optionalDependencies
 * first (in that order), then any other @torchrec-node/* package Node's resolution can reach.
 * Each: { name, dir, file, flavour } where flavour is the parsed flavour.json.
 */
function listInstalled(pkgRoot) {
  const pkg = readJson(path.join(pkgRoot, 'package.json')) || {};
  const names = Object.keys(pkg.optionalDependencies || {}).filter((n) => n.startsWith(`${SCOPE}/`));
  const found = new Map();
  const consider = (name, dir) => {
    if (found.has(name)) return;
    const flavour = readJson(path.join(dir, 'flavour.json'));
    const file = path.join(dir, ADDON_FILE);
    if (flavour && fs.existsSync(file)) found.set(name, { name, dir, file, flavour });
  };
  for (const name of names) {
    try {
      consider(name, path.dirname(require.resolve(`${name}/package.json`, { paths: [pkgRoot] })));
    } catch {
      // not installed (another platform, or --omit=optional)
    }
  }
  for (const scope of scopeDirs(pkgRoot)) {
    let entries = [];
    try {
      entries = fs.readdirSync(scope);
    } catch {
      continue;
    }
    for (const e of entries.sort()) consider(`${SCOPE}/${e}`, path.join(scope, e));
  }
  return [...found.values()];
}

function realpathOr(p) {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

function describeFlavour(f) {
  const kind = f.cuda ? `CUDA ${f.cudaVersion || '?'}` : 'CPU';
  const v = parseVersion(f.torchVersion);
  return `libtorch ${v ? `${v.major}.${v.minor}` : f.torchVersion} ${kind}, _GLIBCXX_USE_CXX11_ABI=${f.cxx11Abi}`;
}

/**
 * Whether a prebuilt fits the libtorch found. Returns { ok: true, relocate } or { ok: false, reason }.
 * relocate: the prebuilt was linked against libtorch in another directory, so its run path has to be
 * pointed at this one (install.js does that in build/Prebuilt; see relocate()).
 */
function matchPrebuilt(flavour, torch) {
  const p = platformInfo();
  const where = `${flavour.platform}-${flavour.arch}${flavour.libc === 'musl' ? '-musl' : ''}`;
  if (flavour.platform !== p.platform || flavour.arch !== p.arch || (flavour.libc || null) !== p.libc) {
    return { ok: false, reason: `is for ${where}, this machine is ${defaultFlavour(null)}` };
  }
  if ((flavour.napiVersion || NAPI_VERSION) > Number(process.versions.napi || 0)) {
    return { ok: false, reason: `needs N-API ${flavour.napiVersion}, this Node has ${process.versions.napi}` };
  }
  const want = parseVersion(flavour.torchVersion);
  const have = parseVersion(torch.version);
  if (!want || !have || want.major !== have.major || want.minor !== have.minor) {
    return { ok: false, reason: `is for ${describeFlavour(flavour)}; yours is libtorch ${torch.version}` };
  }
  if (flavour.cxx11Abi !== null && torch.cxx11Abi !== null && flavour.cxx11Abi !== torch.cxx11Abi) {
    return {
      ok: false,
      reason: `is built with _GLIBCXX_USE_CXX11_ABI=${flavour.cxx11Abi}; your libtorch uses ${torch.cxx11Abi}`,
    };
  }
  if (Boolean(flavour.cuda) !== Boolean(torch.cuda)) {
    const yours = torch.cuda ? `has CUDA ${torch.cudaVersion || ''}`.trim() : 'is CPU-only';
    return { ok: false, reason: `is for ${describeFlavour(flavour)}; your libtorch ${yours}` };
  }
  if (flavour.cuda) {
    const a = String(flavour.cudaVersion || '').split('.')[0];
    const b = String(torch.cudaVersion || '').split('.')[0];
    if (a && b && a !== b)
      return { ok: false, reason: `is for CUDA ${a}; your libtorch has CUDA ${torch.cudaVersion}` };
  }
  const relocate = realpathOr(flavour.libtorchDir) !== realpathOr(torch.libDir);
  if (relocate && !flavour.relocatable) {
    return {
      ok: false,
      reason: `was linked against libtorch in ${flavour.libtorchDir} and cannot be re-pointed to ${torch.libDir}`,
    };
  }
  return { ok: true, relocate };
}

/**
 * Picks the installed prebuilt for the libtorch found: exact libtorch directory first, then one that
 * needs relocating. Returns { chosen, installed, reasons } (reasons: one "name: why not" per reject).
 */
function selectPrebuilt(pkgRoot, torch) {
  const installed = listInstalled(pkgRoot);
  const reasons = [];
  const fits = [];
  for (const pre of installed) {
    const m = matchPrebuilt(pre.flavour, torch);
    if (m.ok) fits.push({ ...pre, relocate: m.relocate });
    else reasons.push(`${pre.name} ${m.reason}`);
  }
  fits.sort((a, b) => Number(a.relocate) - Number(b.relocate));
  return { chosen: fits[0] || null, installed, reasons };
}

const VERIFY_SCRIPT = `
const a = require(process.argv[1]);
if (typeof a.NativeEmbeddingBagCollection !== 'function' || !a.buildInfo) throw new Error('not a torchrec-node addon');
process.stdout.write(JSON.stringify({ torchVersion: a.buildInfo.torchVersion, cuda: a.buildInfo.cuda }));
`;

/**
 * Loads the .node file in a child process (a bad binary can crash only the child) and checks that it is
 * the addon, built for the libtorch found. Returns { ok, info } or { ok: false, error } (one line).
 */
function verifyLoads(file, torch, env = process.env) {
  const r = spawnSync(process.execPath, ['-e', VERIFY_SCRIPT, file], { encoding: 'utf8', env, timeout: 120000 });
  if (r.error) return { ok: false, error: r.error.message };
  if (r.signal) return { ok: false, error: `loading it crashed the process (${r.signal})` };
  if (r.status !== 0) {
    const lines = (r.stderr || '').split('\n').map((l) => l.trim());
    const line = lines.find((l) =>
      /^(Error|TypeError|SyntaxError)\b|cannot open shared object|undefined symbol/.test(l),
    );
    return { ok: false, error: (line || lines.find(Boolean) || `exit code ${r.status}`).replace(/^Error: /, '') };
  }
  let info;
  try {
    info = JSON.parse(r.stdout);
  } catch {
    return { ok: false, error: `unexpected output: ${r.stdout.slice(0, 200)}` };
  }
  const built = parseVersion(info.torchVersion);
  const have = parseVersion(torch.version);
  if (built && have && (built.major !== have.major || built.minor !== have.minor)) {
    return { ok: false, error: `it loaded libtorch ${info.torchVersion}, not the ${torch.version} found` };
  }
  return { ok: true, info };
}

/**
 * Copies a prebuilt into <pkgRoot>/build/Prebuilt with a `libtorch` symbolic link to the libtorch found.
 * Builds are linked with the run path `$ORIGIN/libtorch` first (scripts/cmake-build.js), so the copy
 * loads that libtorch, wherever it was unpacked; libtorch's own `$ORIGIN` entries still resolve through
 * the link. Returns the copied .node path. Throws (EACCES, EROFS…) when the package is not writable.
 */
function relocate(pre, torch, pkgRoot) {
  const dir = path.join(pkgRoot, RELOCATED_DIR);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, ADDON_FILE);
  fs.copyFileSync(pre.file, file);
  fs.symlinkSync(torch.libDir, path.join(dir, 'libtorch'));
  const flavour = { ...pre.flavour, relocatedFrom: pre.name, libtorchDir: torch.libDir };
  fs.writeFileSync(path.join(dir, 'flavour.json'), JSON.stringify(flavour, null, 2) + '\n');
  return file;
}

module.exports = {
  SCOPE,
  ADDON_FILE,
  NAPI_VERSION,
  RELOCATED_DIR,
  platformInfo,
  defaultFlavour,
  listInstalled,
  matchPrebuilt,
  selectPrebuilt,
  describeFlavour,
  verifyLoads,
  relocate,
};

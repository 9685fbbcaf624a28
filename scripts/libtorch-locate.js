// Finds the libtorch present, in the order DESIGN.md fixes and cmake/FindLibtorchForAddon.cmake follows:
//   1. LIBTORCH   an unpacked LibTorch distribution
//   2. Torch_DIR  a directory holding TorchConfig.cmake
//   3. python3's torch package (PYTHON first if set) — located without importing torch
//   4. the system (Debian/Ubuntu libtorch-dev)
// and describes it from its files only (version, C++ ABI, CUDA), so the install script, the prebuild and
// the run-time loader (lib/loader.ts) all agree on what "the libtorch here" is. Plain CommonJS, no
// dependencies: it runs at install time, before the TypeScript build exists.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

/** The oldest libtorch the addon supports (Debian 12's). */
const MIN_VERSION = [1, 13];
const SOURCES = ['LIBTORCH', 'Torch_DIR', 'python', 'system'];

const exists = (p) => {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
};
const readText = (p) => {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return null;
  }
};

function hasLibtorch(dir) {
  if (!dir || !exists(dir)) return false;
  try {
    return fs.readdirSync(dir).some((f) => /^libtorch\.(so|dylib)(\.|$)/.test(f));
  } catch {
    return false;
  }
}

/** "1.13.0", "2.5.1+cu124", "1.13.0a0" → { major, minor, text } */
function parseVersion(text) {
  const m = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(String(text || '').trim());
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] || 0), text: m[0] };
}

function isSupported(version) {
  const v = parseVersion(version);
  if (!v) return false;
  return v.major > MIN_VERSION[0] || (v.major === MIN_VERSION[0] && v.minor >= MIN_VERSION[1]);
}

/**
 * Describes the libtorch whose TorchConfig.cmake lives in cmakeDir. Returns null when the directory
 * does not hold a usable libtorch (no TorchConfig.cmake or no libtorch.so next to it).
 */
function describe(cmakeDir, source, origin) {
  const config = readText(path.join(cmakeDir, 'TorchConfig.cmake'));
  if (config === null) return null;
  // <prefix>/share/cmake/Torch (LibTorch, pip) or <prefix>/lib/<triplet>/cmake/Torch (Debian).
  const prefix = path.resolve(cmakeDir, '..', '..', '..');
  const libCandidates = [path.join(prefix, 'lib'), path.resolve(cmakeDir, '..', '..')];
  const libDir = libCandidates.find(hasLibtorch);
  if (!libDir) return null;
  let includeRoot = path.join(prefix, 'include');
  if (!exists(path.join(includeRoot, 'torch', 'csrc', 'api', 'include'))) {
    // Debian: cmake dir /usr/lib/<triplet>/cmake/Torch, headers in /usr/include.
    const debianInclude = path.resolve(cmakeDir, '..', '..', '..', '..', 'include');
    includeRoot = exists(path.join(debianInclude, 'torch', 'csrc', 'api', 'include')) ? debianInclude : includeRoot;
  }

  // Version: pip's torch/version.py, LibTorch's build-version, then TorchConfigVersion.cmake.
  const versionPy = readText(path.join(prefix, 'version.py'));
  const buildVersion = readText(path.join(prefix, 'build-version'));
  const configVersion = readText(path.join(cmakeDir, 'TorchConfigVersion.cmake'));
  let fullVersion =
    (versionPy && (/__version__\s*=\s*['"]([^'"]+)['"]/.exec(versionPy) || [])[1]) ||
    (buildVersion && buildVersion.trim()) ||
    (configVersion && (/PACKAGE_VERSION\s+"([^"]+)"/.exec(configVersion) || [])[1]) ||
    null;
  const parsed = parseVersion(fullVersion);

  const abiMatch = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(config);
  const libFiles = fs.readdirSync(libDir);
  const cuda = libFiles.some((f) => /^libtorch_cuda\.(so|dylib)/.test(f));
  let cudaVersion = null;
  if (cuda) {
    const fromPy = versionPy && /\bcuda\s*=\s*['"]([\d.]+)['"]/.exec(versionPy);
    const fromTag = /\+cu(\d+)(\d)$/.exec(String(fullVersion || '').trim());
    const cudart = libFiles.map((f) => /^libcudart[^.]*\.so\.(\d+)/.exec(f)).find(Boolean);
    if (fromPy) cudaVersion = fromPy[1];
    else if (fromTag) cudaVersion = `${fromTag[1]}.${fromTag[2]}`;
    else if (cudart) cudaVersion = cudart[1];
  }
  return {
    source,
    origin,
    version: parsed ? parsed.text : fullVersion,
    fullVersion,
    cxx11Abi: abiMatch ? Number(abiMatch[1]) : null,
    cuda,
    cudaVersion,
    cmakeDir,
    prefix,
    libDir,
    includeDirs: [includeRoot, path.join(includeRoot, 'torch', 'csrc', 'api', 'include')],
  };
}

/** A LibTorch/pip prefix or a TorchConfig.cmake directory → the cmake directory, if any. */
function cmakeDirsOf(dir) {
  return [dir, path.join(dir, 'share', 'cmake', 'Torch'), path.join(dir, 'Torch')];
}

function fromDirs(dirs, source, origin) {
  for (const d of dirs) {
    const found = describe(d, source, origin);
    if (found) return found;
  }
  return null;
}

const PY_FIND_TORCH =
  'import importlib.util as u\ns = u.find_spec("torch")\nprint(s.submodule_search_locations[0] if s and s.submodule_search_locations else "")';

function pythonTorchDir(python) {
  const r = spawnSync(python, ['-c', PY_FIND_TORCH], { encoding: 'utf8', timeout: 20000 });
  if (r.status !== 0 || !r.stdout) return null;
  const dir = r.stdout.trim().split('\n').pop();
  return dir && exists(dir) ? dir : null;
}

function systemCmakeDirs() {
  const triplets = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu', ppc64: 'powerpc64le-linux-gnu' };
  const triplet = triplets[process.arch];
  const dirs = [];
  for (const prefix of ['/usr/local', '/usr']) {
    if (triplet) dirs.push(path.join(prefix, 'lib', triplet, 'cmake', 'Torch'));
    dirs.push(path.join(prefix, 'lib', 'cmake', 'Torch'), path.join(prefix, 'share', 'cmake', 'Torch'));
  }
  return dirs;
}

/**
 * Finds libtorch. Options (for tests and diagnostics; defaults are the real machine):
 *   env           environment to read LIBTORCH, Torch_DIR, PYTHON from (default process.env)
 *   pythons       interpreters to ask for torch (default [PYTHON, python3, /usr/bin/python3])
 *   systemDirs    TorchConfig.cmake directories of the system (default Debian/Ubuntu locations)
 *   sources       which of LIBTORCH, Torch_DIR, python, system to try (default all, in that order;
 *                 the environment variable TORCHREC_NODE_TEST_LIBTORCH_SOURCES narrows it, for tests)
 * Returns { found, tried }: found is null or the description of the first hit; tried says what was
 * looked at, in order, for messages.
 */
function locateLibtorch(options = {}) {
  const env = options.env || process.env;
  const only = env.TORCHREC_NODE_TEST_LIBTORCH_SOURCES;
  const sources = options.sources || (only ? only.split(',').map((s) => s.trim()) : SOURCES);
  const tried = [];
  let found = null;
  for (const source of SOURCES) {
    if (found || !sources.includes(source)) continue;
    if (source === 'LIBTORCH' && env.LIBTORCH) {
      found = fromDirs(cmakeDirsOf(env.LIBTORCH), 'LIBTORCH', env.LIBTORCH);
      tried.push(`LIBTORCH=${env.LIBTORCH}${found ? '' : ' (no libtorch there)'}`);
    } else if (source === 'Torch_DIR' && env.Torch_DIR) {
      found = fromDirs(cmakeDirsOf(env.Torch_DIR), 'Torch_DIR', env.Torch_DIR);
      tried.push(`Torch_DIR=${env.Torch_DIR}${found ? '' : ' (no TorchConfig.cmake with libtorch there)'}`);
    } else if (source === 'python') {
      const pythons = options.pythons || [env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean);
      const seen = new Set();
      for (const py of pythons) {
        const torchDir = pythonTorchDir(py);
        if (!torchDir || seen.has(torchDir)) {
          if (!torchDir) tried.push(`${py} (no torch)`);
          continue;
        }
        seen.add(torchDir);
        found = fromDirs([path.join(torchDir, 'share', 'cmake', 'Torch')], 'python', `${py}: ${torchDir}`);
        tried.push(`${py}: torch at ${torchDir}${found ? '' : ' (no share/cmake/Torch or lib/libtorch there)'}`);
        if (found) break;
      }
    } else if (source === 'system') {
      found = fromDirs(options.systemDirs || systemCmakeDirs(), 'system', 'libtorch-dev');
      tried.push(found ? `system (${found.cmakeDir})` : 'system (no libtorch-dev)');
    }
  }
  return { found, tried };
}

/** One human line: "libtorch 1.13.0 (CPU, C++11 ABI) from the system (/usr/lib/x86_64-linux-gnu)". */
function summary(t) {
  const kind = t.cuda ? `CUDA ${t.cudaVersion || '?'}` : 'CPU';
  const abi = t.cxx11Abi === null ? 'ABI unknown' : t.cxx11Abi ? 'C++11 ABI' : 'pre-C++11 ABI';
  const from = t.source === 'system' ? 'the system' : t.source === 'python' ? "python3's torch" : t.source;
  return `libtorch ${t.version} (${kind}, ${abi}) from ${from} (${t.libDir})`;
}

const WAYS = [
  '  1. set LIBTORCH to an unpacked LibTorch distribution (https://pytorch.org, C++/LibTorch),',
  '  2. set Torch_DIR to the directory that holds TorchConfig.cmake,',
  '  3. install PyTorch for python3 (pip install torch; set PYTHON to pick the interpreter),',
  '  4. install the system package: sudo apt-get install libtorch-dev (Debian 12 / Ubuntu).',
];

function notFoundMessage(tried) {
  return [
    'torchrec-node: libtorch was not found; the addon needs it (prebuilt or built from source). Provide it in one of these ways:',
    ...WAYS,
    `Tried: ${tried.join('; ') || 'nothing'}.`,
  ].join('\n');
}

function unsupportedMessage(t) {
  return (
    `torchrec-node: ${summary(t)} is too old; torchrec-node supports libtorch ${MIN_VERSION.join('.')} through 2.x. ` +
    'Point LIBTORCH (or Torch_DIR) at a newer LibTorch, or install a newer PyTorch for python3.'
  );
}

module.exports = {
  MIN_VERSION,
  SOURCES,
  WAYS,
  locateLibtorch,
  describe,
  parseVersion,
  isSupported,
  summary,
  notFoundMessage,
  unsupportedMessage,
};

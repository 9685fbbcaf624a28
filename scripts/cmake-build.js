// The source build: cmake-js over CMakeLists.txt, pinned to the libtorch libtorch-locate.js found (so
// the one line install.js prints is the libtorch the build uses). Shared by install.js and prebuild.js.
// Node's headers come from the node-api-headers package (package.json `binary.napi_versions`), so
// cmake-js downloads nothing. Every build is linked with `$ORIGIN/libtorch` first in its run path, so a
// copy of the .node next to a `libtorch` link to another libtorch directory loads that libtorch
// (scripts/prebuilt.js relocate); with no such link it changes nothing.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

function onPath(cmd, env) {
  if (cmd.includes('/')) return fs.existsSync(cmd) ? cmd : null;
  for (const dir of String(env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return null;
}

/** { cmake, cxx, missing: [..] }: what a source build needs and whether it is reachable. */
function findToolchain(env = process.env) {
  const cmake = onPath('cmake', env);
  const cxx = env.CXX
    ? onPath(env.CXX.split(' ')[0], env)
    : ['c++', 'g++', 'clang++'].map((c) => onPath(c, env)).find(Boolean);
  const missing = [];
  if (!cmake) missing.push('cmake');
  if (!cxx) missing.push(env.CXX ? `the C++ compiler CXX=${env.CXX}` : 'a C++17 compiler (g++ or clang++)');
  return { cmake, cxx, missing };
}

/** The run path entry that makes a build relocatable; `$ORIGIN` quoted for the shell that runs the link. */
const RELOCATABLE_RPATH = '$ORIGIN/libtorch';

/** Whether a built .node carries that run path entry. */
function isRelocatable(file) {
  return fs.readFileSync(file).includes(RELOCATABLE_RPATH);
}

/**
 * Runs `cmake-js compile` for the package at root into out (default root/build), against torch (a
 * libtorch-locate description). extraDefines: more -D settings ({ NAME: value }). Returns the .node path
 * on success, or throws with the exit status.
 */
function cmakeJsBuild({ root, out, torch, extraDefines = {}, env = process.env, stdio = 'inherit' }) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  const ldflags = [env.LDFLAGS, `-Wl,-rpath,'${RELOCATABLE_RPATH}'`].filter(Boolean).join(' ');
  const defines = { Torch_DIR: torch.cmakeDir, CMAKE_SHARED_LINKER_FLAGS: ldflags, ...extraDefines };
  const args = [cmakeJs, 'compile', '--directory', root];
  if (out) args.push('--out', out);
  for (const [k, v] of Object.entries(defines)) args.push(`--CD${k}=${v}`);
  const r = spawnSync(process.execPath, args, { cwd: root, stdio, env });
  const addon = path.join(out || path.join(root, 'build'), 'Release', 'torchrec_node.node');
  if (r.status !== 0 || !fs.existsSync(addon)) {
    const err = new Error(`cmake-js exited with ${r.status === null ? r.signal : r.status}`);
    err.status = r.status;
    throw err;
  }
  return addon;
}

module.exports = { findToolchain, cmakeJsBuild, onPath, isRelocatable, RELOCATABLE_RPATH };

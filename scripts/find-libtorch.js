#!/usr/bin/env node
// libtorch discovery for node-gyp (binding.gyp), in the same order as cmake/FindLibtorchForAddon.cmake:
// LIBTORCH, Torch_DIR, python3's torch, the system. Prints what gyp asks for:
//   node scripts/find-libtorch.js include | libdir | libs
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');

function layoutAt(prefix) {
  const include = path.join(prefix, 'include');
  const lib = path.join(prefix, 'lib');
  if (fs.existsSync(path.join(include, 'torch', 'csrc', 'api', 'include')) && fs.existsSync(lib)) {
    return { includes: [include, path.join(include, 'torch', 'csrc', 'api', 'include')], libdir: lib };
  }
  return null;
}

function fromTorchDir(dir) {
  // <prefix>/share/cmake/Torch (LibTorch, pip) or /usr/lib/<triplet>/cmake/Torch (Debian).
  const up3 = path.resolve(dir, '..', '..', '..');
  const found = layoutAt(up3);
  if (found) return found;
  const debianLib = path.resolve(dir, '..', '..');
  if (fs.existsSync(path.join(debianLib, 'libtorch.so')) && fs.existsSync('/usr/include/torch/csrc/api/include')) {
    return { includes: ['/usr/include', '/usr/include/torch/csrc/api/include'], libdir: debianLib };
  }
  return null;
}

function fromPython() {
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    const r = spawnSync(py, ['-c', 'import torch.utils, os; print(os.path.dirname(torch.utils.__file__))'], {
      encoding: 'utf8',
    });
    if (r.status === 0) {
      const torchDir = path.dirname(r.stdout.trim());
      const found = layoutAt(torchDir);
      if (found) return found;
    }
  }
  return null;
}

function fromSystem() {
  const triplets = ['x86_64-linux-gnu', 'aarch64-linux-gnu'];
  for (const t of triplets) {
    const libdir = `/usr/lib/${t}`;
    if (fs.existsSync(path.join(libdir, 'libtorch.so')) && fs.existsSync('/usr/include/torch/csrc/api/include')) {
      return { includes: ['/usr/include', '/usr/include/torch/csrc/api/include'], libdir };
    }
  }
  return null;
}

function find() {
  if (process.env.LIBTORCH) {
    const found = layoutAt(process.env.LIBTORCH);
    if (found) return found;
  }
  if (process.env.Torch_DIR) {
    const found = fromTorchDir(process.env.Torch_DIR);
    if (found) return found;
  }
  return fromPython() || fromSystem();
}

const found = find();
if (!found) {
  console.error(
    'torchrec-node: libtorch was not found. Set LIBTORCH (an unpacked LibTorch), or Torch_DIR (the directory ' +
      'with TorchConfig.cmake), or install PyTorch for python3, or `sudo apt-get install libtorch-dev`.',
  );
  process.exit(1);
}
const what = process.argv[2];
if (what === 'include') console.log(found.includes.join(' '));
else if (what === 'libdir') console.log(found.libdir);
else if (what === 'libs') console.log(['-ltorch', '-ltorch_cpu', '-lc10'].join(' '));
else console.log(JSON.stringify(found));

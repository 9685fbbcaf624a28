#!/usr/bin/env node
// `npm install` hook: compile the addon from source with cmake-js against the libtorch found as
// DESIGN.md orders it (LIBTORCH, Torch_DIR, python3's torch, the system). Downloads nothing.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const addon = path.join(root, 'build', 'Release', 'torchrec_node.node');

if (process.env.TORCHREC_NODE_SKIP_BUILD === '1') {
  console.log('torchrec-node: TORCHREC_NODE_SKIP_BUILD=1, not building the native addon');
  process.exit(0);
}

let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  console.error('torchrec-node: cmake-js is missing from node_modules; run npm install again');
  process.exit(1);
}

console.log('torchrec-node: building the native addon from source (cmake-js, libtorch)');
const result = spawnSync(process.execPath, [cmakeJs, 'compile', '--directory', root], {
  cwd: root,
  stdio: 'inherit',
  env: process.env,
});

if (result.status !== 0 || !fs.existsSync(addon)) {
  console.error(
    [
      '',
      'torchrec-node: the native build failed. It needs CMake (>= 3.18), a C++17 compiler and libtorch, found as:',
      '  1. LIBTORCH=/path/to/libtorch (an unpacked LibTorch distribution), or',
      '  2. Torch_DIR=/path/containing/TorchConfig.cmake, or',
      '  3. a PyTorch installed for python3 (torch.utils.cmake_prefix_path), or',
      '  4. the system package: sudo apt-get install libtorch-dev cmake g++ (Debian 12 / Ubuntu).',
      'The CMake output above says which were tried. Fix that, then run: npm rebuild torchrec-node',
    ].join('\n'),
  );
  process.exit(1);
}
console.log(`torchrec-node: built ${path.relative(root, addon)}`);

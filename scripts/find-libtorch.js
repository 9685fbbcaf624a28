#!/usr/bin/env node
// libtorch discovery for node-gyp (binding.gyp), through scripts/libtorch-locate.js: the same order as
// cmake/FindLibtorchForAddon.cmake (LIBTORCH, Torch_DIR, python3's torch, the system). Prints what gyp
// asks for:
//   node scripts/find-libtorch.js include | libdir | libs | defines | summary
// With no argument it prints the whole description as JSON.
'use strict';
const fs = require('fs');
const path = require('path');
const { locateLibtorch, notFoundMessage, isSupported, unsupportedMessage, summary } = require('./libtorch-locate');

const { found, tried } = locateLibtorch();
if (!found) {
  console.error(notFoundMessage(tried));
  process.exit(1);
}
if (!isSupported(found.version)) {
  console.error(unsupportedMessage(found));
  process.exit(1);
}
const libs = ['-ltorch', '-ltorch_cpu', '-lc10', ...(found.cuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])];
const defines = found.cxx11Abi === null ? [] : [`_GLIBCXX_USE_CXX11_ABI=${found.cxx11Abi}`];
// c10d's Gloo backend (native/distributed) needs the gloo headers (Debian: libgloo-dev), as
// cmake/GlooForAddon.cmake checks; without them the addon builds without distributed support.
const glooHeaders = [...found.includeDirs, '/usr/include', '/usr/local/include'].some((d) =>
  fs.existsSync(path.join(d, 'gloo', 'config.h')),
);
if (glooHeaders) defines.push('TORCHREC_HAVE_GLOO');
const what = process.argv[2];
if (what === 'include') console.log(found.includeDirs.join(' '));
else if (what === 'libdir') console.log(found.libDir);
else if (what === 'libs') console.log(libs.join(' '));
else if (what === 'defines') console.log(defines.join(' '));
else if (what === 'summary') console.log(summary(found));
else console.log(JSON.stringify({ ...found, libs, defines }, null, 2));

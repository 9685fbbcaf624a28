#!/usr/bin/env node
// `npm install` hook. Finds the libtorch present (LIBTORCH, Torch_DIR, python3's torch, the system:
// scripts/libtorch-locate.js), then either uses the installed prebuilt package that matches it (checked
// by loading it in a child process) or builds from source with cmake-js, and prints one line saying
// which and why. Downloads nothing. TORCHREC_NODE_BUILD_FROM_SOURCE=1 forces the source build;
// TORCHREC_NODE_SKIP_BUILD=1 installs without the native addon (config classes only).
'use strict';
const fs = require('fs');
const path = require('path');
const locate = require('./libtorch-locate');
const prebuilt = require('./prebuilt');
const { findToolchain, cmakeJsBuild } = require('./cmake-build');

const root = path.resolve(__dirname, '..');
const TAG = 'torchrec-node:';
const insideNodeModules = () => root.split(path.sep).includes('node_modules');
const rebuildCommand = () => (insideNodeModules() ? 'npm rebuild torchrec-node' : 'npm run build:native');

/**
 * What the install will do, without writing anything: { action, line | message, torch, chosen }.
 * action: 'skip' | 'prebuilt' | 'relocate' | 'build' | 'fail'. `prebuilt` has been loaded in a child
 * process already; `relocate` is verified after the copy is made.
 */
function plan(env = process.env) {
  if (env.TORCHREC_NODE_SKIP_BUILD === '1') {
    return { action: 'skip', line: `${TAG} TORCHREC_NODE_SKIP_BUILD=1, installing without the native addon` };
  }
  const { found: torch, tried } = locate.locateLibtorch({ env });
  if (!torch) {
    const message =
      locate.notFoundMessage(tried) +
      '\nTo install only the config classes (no native addon), set TORCHREC_NODE_SKIP_BUILD=1.';
    return { action: 'fail', message };
  }
  if (!locate.isSupported(torch.version)) return { action: 'fail', message: locate.unsupportedMessage(torch), torch };
  const against = locate.summary(torch);
  if (env.TORCHREC_NODE_BUILD_FROM_SOURCE === '1') {
    return { action: 'build', torch, why: 'TORCHREC_NODE_BUILD_FROM_SOURCE=1', against };
  }
  const sel = prebuilt.selectPrebuilt(root, torch);
  if (!sel.chosen) {
    const why = sel.installed.length
      ? `no prebuilt matches (${sel.reasons.join('; ')})`
      : `no prebuilt package is installed for ${prebuilt.defaultFlavour(torch)}`;
    return { action: 'build', torch, why, against };
  }
  const chosen = sel.chosen;
  const what = `prebuilt ${chosen.name} (${prebuilt.describeFlavour(chosen.flavour)})`;
  if (chosen.relocate) return { action: 'relocate', torch, chosen, what, against };
  const v = prebuilt.verifyLoads(chosen.file, torch, env);
  if (!v.ok) return { action: 'build', torch, why: `${what} matches but does not load: ${v.error}`, against };
  return { action: 'prebuilt', torch, chosen, line: `${TAG} using ${what} for ${against}; nothing to compile` };
}

function notWritableMessage(dir, err) {
  return (
    `${TAG} cannot write ${dir} (${err.code || err.message}); building from source or re-pointing a prebuilt ` +
    'writes there. Install into a writable node_modules, or build a writable copy of the package ' +
    '(`npx cmake-js compile` in it) and set TORCHREC_NODE_ADDON=/path/to/build/Release/torchrec_node.node.'
  );
}

/** Throws the fs error when <root>/build cannot be written (read-only node_modules, other owner). */
function checkWritable() {
  const dir = path.join(root, 'build');
  fs.mkdirSync(dir, { recursive: true });
  const probe = path.join(dir, `.write-test-${process.pid}`);
  fs.writeFileSync(probe, '');
  fs.unlinkSync(probe);
}

function removeQuietly(p) {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // read-only: nothing stale can have been written there either
  }
}

function fail(message) {
  console.error(message);
  process.exitCode = 1;
}

function build(p) {
  console.log(`${TAG} building from source with cmake-js against ${p.against}: ${p.why}`);
  const tools = findToolchain(process.env);
  if (tools.missing.length) {
    return fail(
      `${TAG} the source build needs ${tools.missing.join(' and ')}, which ${tools.missing.length > 1 ? 'are' : 'is'} ` +
        'not on PATH. Install them (Debian/Ubuntu: sudo apt-get install cmake g++), then run ' +
        `\`${rebuildCommand()}\`.`,
    );
  }
  const dir = path.join(root, 'build');
  try {
    checkWritable();
  } catch (e) {
    return fail(notWritableMessage(dir, e));
  }
  removeQuietly(path.join(root, prebuilt.RELOCATED_DIR));
  let addon;
  try {
    addon = cmakeJsBuild({ root, torch: p.torch });
  } catch {
    return fail(
      [
        '',
        `${TAG} the native build failed (the compiler output above says why). It needs CMake (>= 3.18), a C++17`,
        `compiler and libtorch; it used ${p.against}. Other libtorch locations, in the order they are tried:`,
        ...locate.WAYS,
        `Fix that, then run: ${rebuildCommand()}`,
      ].join('\n'),
    );
  }
  console.log(`${TAG} built ${path.relative(root, addon)}`);
}

function main() {
  const p = plan();
  if (p.action === 'fail') return fail(p.message);
  if (p.action === 'skip') return console.log(p.line);
  if (p.action === 'prebuilt') {
    // A source build or re-pointed copy left by an earlier install would shadow the prebuilt at run time.
    removeQuietly(path.join(root, prebuilt.RELOCATED_DIR));
    if (insideNodeModules()) removeQuietly(path.join(root, 'build', 'Release', prebuilt.ADDON_FILE));
    return console.log(p.line);
  }
  if (p.action === 'relocate') {
    let file;
    try {
      file = prebuilt.relocate(p.chosen, p.torch, root);
    } catch (e) {
      return fail(notWritableMessage(path.join(root, prebuilt.RELOCATED_DIR), e));
    }
    const v = prebuilt.verifyLoads(file, p.torch);
    if (v.ok) {
      return console.log(
        `${TAG} using ${p.what} for ${p.against}, re-pointed at that libtorch in ${prebuilt.RELOCATED_DIR}; nothing to compile`,
      );
    }
    removeQuietly(path.join(root, prebuilt.RELOCATED_DIR));
    return build({ ...p, why: `${p.what} matches but does not load from ${p.torch.libDir}: ${v.error}` });
  }
  return build(p);
}

module.exports = { plan };

if (require.main === module) main();

#!/usr/bin/env node
// Packs installable tarballs into a folder (default packs/):
//   - every staged platform package npm/<flavour>/ (one with torchrec_node.node and flavour.json, as
//     scripts/prebuild.js leaves it, or as a release job collects them from the build machines);
//   - the main package, whose packed package.json lists exactly those platform packages as
//     optionalDependencies (the repository's package.json lists none, so `npm ci` here never asks the
//     registry for a package that was not published).
//   node scripts/pack.js [--out packs] [--main-only | --platforms-only]
'use strict';
const fs = require('fs');
const path = require('path');
const { spawnSync } = require('child_process');
const prebuilt = require('./prebuilt');

const root = path.resolve(__dirname, '..');

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : null;
}

function npm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.status})`);
  return r.stdout;
}

function packDir(dir, out) {
  const json = JSON.parse(npm(['pack', dir, '--pack-destination', out, '--ignore-scripts', '--json'], root));
  return path.join(out, json[0].filename);
}

/** Staged platform packages: npm/<flavour>/ with package.json, flavour.json and the .node file. */
function stagedPlatforms(version) {
  const base = path.join(root, 'npm');
  const dirs = fs.existsSync(base) ? fs.readdirSync(base).sort() : [];
  const staged = [];
  for (const d of dirs) {
    const dir = path.join(base, d);
    const files = ['package.json', 'flavour.json', prebuilt.ADDON_FILE].map((f) => path.join(dir, f));
    if (!files.every((f) => fs.existsSync(f))) continue;
    const pkg = JSON.parse(fs.readFileSync(files[0], 'utf8'));
    if (pkg.version !== version) {
      throw new Error(
        `npm/${d} is ${pkg.name}@${pkg.version} but torchrec-node is ${version}: run npm run prebuild again`,
      );
    }
    staged.push({ dir, name: pkg.name, version: pkg.version });
  }
  return staged;
}

/** Copies what `npm pack` would include into stage/, with optionalDependencies added to package.json. */
function stageMain(stage, platforms) {
  const listing = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], root));
  fs.rmSync(stage, { recursive: true, force: true });
  for (const { path: rel } of listing[0].files) {
    const to = path.join(stage, rel);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(path.join(root, rel), to);
  }
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  pkg.optionalDependencies = { ...(pkg.optionalDependencies || {}) };
  for (const p of platforms) pkg.optionalDependencies[p.name] = p.version;
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  return stage;
}

function main() {
  const out = path.resolve(arg('out') || path.join(root, 'packs'));
  fs.mkdirSync(out, { recursive: true });
  const version = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version;
  const platforms = stagedPlatforms(version);
  const written = [];
  if (!process.argv.includes('--main-only')) {
    if (!platforms.length) console.warn('pack: no platform package is staged (run npm run prebuild first)');
    for (const p of platforms) written.push(packDir(p.dir, out));
  }
  if (!process.argv.includes('--platforms-only')) {
    if (!fs.existsSync(path.join(root, 'dist', 'index.js')))
      throw new Error('pack: dist/ is missing; run npm run build:ts');
    const stage = stageMain(path.join(root, 'build-pack', 'torchrec-node'), platforms);
    written.push(packDir(stage, out));
  }
  for (const f of written) console.log(f);
}

try {
  main();
} catch (e) {
  console.error(e.message);
  process.exitCode = 1;
}

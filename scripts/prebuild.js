#!/usr/bin/env node
// `npm run prebuild`: builds the addon against the libtorch found here and stages the platform package
// npm/<flavour>/ (package.json, torchrec_node.node, flavour.json, README.md), ready for `npm pack`.
//   node scripts/prebuild.js [--flavour linux-x64-cu12] [--out-dir DIR] [--build-dir DIR] [--from-addon FILE]
// --from-addon stages a .node already built from this source tree by scripts/cmake-build.js (e.g. the
// install script's source build, or a CI artifact) instead of building again; it is checked the same way.
// The flavour defaults to <platform>-<arch>[-musl][-cu<major>] of the libtorch found. Adding a variant
// (docs/INSTALL.md) is running this on a machine whose libtorch is that variant, e.g.
//   LIBTORCH=/opt/libtorch-cu124 npm run prebuild -- --flavour linux-x64-cu12
'use strict';
const fs = require('fs');
const path = require('path');
const locate = require('./libtorch-locate');
const prebuilt = require('./prebuilt');
const { cmakeJsBuild, isRelocatable } = require('./cmake-build');

const root = path.resolve(__dirname, '..');

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i > 0 && process.argv[i + 1]) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : null;
}

function describeVariant(torch) {
  const where =
    torch.source === 'system'
      ? "Debian/Ubuntu's system libtorch"
      : torch.source === 'python'
        ? "PyTorch's"
        : 'LibTorch';
  const kind = torch.cuda ? `CUDA ${torch.cudaVersion || ''}`.trim() : 'CPU';
  const v = locate.parseVersion(torch.version);
  return `${where} ${v.major}.${v.minor} (${kind})`;
}

function platformPackageJson(flavour, torch, main) {
  const p = prebuilt.platformInfo();
  const templateFile = path.join(root, 'npm', flavour, 'package.json');
  const template = fs.existsSync(templateFile) ? JSON.parse(fs.readFileSync(templateFile, 'utf8')) : {};
  return {
    name: `${prebuilt.SCOPE}/${flavour}`,
    description: `torchrec-node's native addon for ${p.platform}-${p.arch}, built against ${describeVariant(torch)}`,
    ...template,
    version: main.version,
    license: main.license,
    os: [p.platform],
    cpu: [p.arch],
    ...(p.libc ? { libc: [p.libc] } : {}),
    files: [prebuilt.ADDON_FILE, 'flavour.json', 'README.md'],
    preferUnplugged: true,
  };
}

function main() {
  const { found: torch, tried } = locate.locateLibtorch();
  if (!torch) throw new Error(locate.notFoundMessage(tried));
  if (!locate.isSupported(torch.version)) throw new Error(locate.unsupportedMessage(torch));
  const flavour = arg('flavour') || prebuilt.defaultFlavour(torch);
  const outDir = path.resolve(arg('out-dir') || path.join(root, 'npm', flavour));
  const buildDir = path.resolve(arg('build-dir') || path.join(root, 'build-prebuild', flavour));
  const main = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  console.log(`prebuild: ${prebuilt.SCOPE}/${flavour} against ${locate.summary(torch)}`);

  const from = arg('from-addon');
  const addon = from ? path.resolve(from) : cmakeJsBuild({ root, out: buildDir, torch });
  const relocatable = isRelocatable(addon);
  const v = prebuilt.verifyLoads(addon, torch);
  if (!v.ok) throw new Error(`prebuild: the built addon does not load: ${v.error}`);

  const p = prebuilt.platformInfo();
  const record = {
    flavour,
    package: `${prebuilt.SCOPE}/${flavour}`,
    version: main.version,
    platform: p.platform,
    arch: p.arch,
    libc: p.libc,
    napiVersion: prebuilt.NAPI_VERSION,
    torchVersion: torch.version,
    cxx11Abi: torch.cxx11Abi,
    cuda: torch.cuda,
    cudaVersion: torch.cudaVersion,
    libtorchDir: torch.libDir,
    libtorchSource: torch.source,
    relocatable,
    builtWith: { glibc: p.glibc, node: process.version, addonTorchVersion: v.info.torchVersion },
  };
  const pkg = platformPackageJson(flavour, torch, main);
  fs.mkdirSync(outDir, { recursive: true });
  fs.copyFileSync(addon, path.join(outDir, prebuilt.ADDON_FILE));
  fs.writeFileSync(path.join(outDir, 'flavour.json'), JSON.stringify(record, null, 2) + '\n');
  fs.writeFileSync(path.join(outDir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  const readme = path.join(outDir, 'README.md');
  if (!fs.existsSync(readme)) {
    fs.writeFileSync(
      readme,
      `# ${pkg.name}\n\n${pkg.description}.\n\nInstalled by \`torchrec-node\` as an optional dependency; ` +
        "do not depend on it directly. See torchrec-node's docs/INSTALL.md.\n",
    );
  }
  console.log(`prebuild: staged ${path.relative(process.cwd(), outDir) || '.'} (${pkg.name}@${pkg.version})`);
}

try {
  main();
} catch (e) {
  console.error(e.message);
  process.exitCode = 1;
}

/**
 * Where the native addon file comes from (lib/native.ts loads it). In order:
 *   1. TORCHREC_NODE_ADDON, a path to a torchrec_node.node;
 *   2. a source build of this package: build/Release (or build/Debug);
 *   3. a prebuilt that the install script re-pointed at the libtorch here: build/Prebuilt;
 *   4. the installed platform package (@torchrec-node/<flavour>) that matches the libtorch found the
 *      way the build finds it (LIBTORCH, Torch_DIR, python3's torch, the system).
 * The libtorch discovery and prebuilt matching are the install script's own modules
 * (scripts/libtorch-locate.js, scripts/prebuilt.js), so install time and run time agree.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The package directory: lib/ (ts-jest) and dist/ (the build) both sit directly under it. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..');
const ADDON_FILE = 'torchrec_node.node';

interface LibtorchInfo {
  source: string;
  version: string;
  cuda: boolean;
  cudaVersion: string | null;
  cxx11Abi: number | null;
  libDir: string;
}

interface Prebuilt {
  name: string;
  file: string;
  relocate: boolean;
  flavour: Record<string, unknown>;
}

interface LocateModule {
  locateLibtorch(): { found: LibtorchInfo | null; tried: string[] };
  isSupported(version: string): boolean;
  summary(t: LibtorchInfo): string;
  notFoundMessage(tried: string[]): string;
  unsupportedMessage(t: LibtorchInfo): string;
}

interface PrebuiltModule {
  selectPrebuilt(root: string, t: LibtorchInfo): { chosen: Prebuilt | null; installed: Prebuilt[]; reasons: string[] };
  defaultFlavour(t: LibtorchInfo | null): string;
  describeFlavour(f: Record<string, unknown>): string;
}

export interface AddonLocation {
  /** The .node file to load. */
  path: string;
  /** Why this one, for messages: "TORCHREC_NODE_ADDON", "source build", "prebuilt @torchrec-node/linux-x64"… */
  via: string;
  /** What to do if loading it fails. */
  loadHint: string;
}

export type AddonSearch = { found: AddonLocation } | { found: null; message: string };

/** The command that (re)runs the install-time decision for this copy of the package. */
export function rebuildCommand(root: string = PACKAGE_ROOT): string {
  return root.split(path.sep).includes('node_modules') ? 'npm rebuild torchrec-node' : 'npm run build:native';
}

function scriptsModule<T>(root: string, name: string): T | null {
  const file = path.join(root, 'scripts', name);
  if (!fs.existsSync(file)) return null;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as T;
}

function fromPlatformPackage(root: string, rebuild: string): AddonSearch {
  const locate = scriptsModule<LocateModule>(root, 'libtorch-locate.js');
  const prebuilt = scriptsModule<PrebuiltModule>(root, 'prebuilt.js');
  const notBuilt = `the torchrec-node native addon is not built in ${path.join(root, 'build')}`;
  if (!locate || !prebuilt) {
    return { found: null, message: `${notBuilt}. Run \`${rebuild}\` (it needs libtorch, cmake and a C++17 compiler).` };
  }
  const { found: torch, tried } = locate.locateLibtorch();
  if (!torch) return { found: null, message: `${locate.notFoundMessage(tried)}\nThen run \`${rebuild}\`.` };
  if (!locate.isSupported(torch.version)) return { found: null, message: locate.unsupportedMessage(torch) };
  const sel = prebuilt.selectPrebuilt(root, torch);
  const installed = root.split(path.sep).includes('node_modules');
  if (!sel.chosen) {
    const why = sel.installed.length
      ? `no installed prebuilt matches ${locate.summary(torch)}: ${sel.reasons.join('; ')}`
      : `no prebuilt package for ${prebuilt.defaultFlavour(torch)} is installed`;
    const todo = installed
      ? `If the install script did not run (\`npm install --ignore-scripts\`) or failed, run \`${rebuild}\`: it uses ` +
        'a matching prebuilt if one is installed, or builds from source (cmake and a C++17 compiler; ' +
        'TORCHREC_NODE_BUILD_FROM_SOURCE=1 forces that).'
      : `Run \`${rebuild}\` (cmake-js; it needs cmake and a C++17 compiler).`;
    return { found: null, message: `${notBuilt}, and ${why}. ${todo}` };
  }
  const c = sel.chosen;
  const loadHint = c.relocate
    ? `${c.name} was linked against libtorch in ${String(c.flavour.libtorchDir)}; run \`${rebuild}\` to ` +
      `point it at ${torch.libDir}, or build from source (TORCHREC_NODE_BUILD_FROM_SOURCE=1 ${rebuild}).`
    : `Run \`TORCHREC_NODE_BUILD_FROM_SOURCE=1 ${rebuild}\` to build from source instead.`;
  return { found: { path: c.file, via: `prebuilt ${c.name} (${prebuilt.describeFlavour(c.flavour)})`, loadHint } };
}

/** Finds the addon file; never loads it. */
export function findAddon(env: NodeJS.ProcessEnv = process.env, root: string = PACKAGE_ROOT): AddonSearch {
  const rebuild = rebuildCommand(root);
  if (env.TORCHREC_NODE_ADDON) {
    const file = path.resolve(env.TORCHREC_NODE_ADDON);
    if (!fs.existsSync(file)) {
      return { found: null, message: `TORCHREC_NODE_ADDON=${env.TORCHREC_NODE_ADDON} does not exist.` };
    }
    return { found: { path: file, via: 'TORCHREC_NODE_ADDON', loadHint: 'Rebuild that file against this libtorch.' } };
  }
  const sourceHint = `If libtorch was upgraded or moved since the build, rebuild with \`${rebuild}\`.`;
  for (const dir of ['Release', 'Debug']) {
    const file = path.join(root, 'build', dir, ADDON_FILE);
    if (fs.existsSync(file)) return { found: { path: file, via: 'source build', loadHint: sourceHint } };
  }
  const relocated = path.join(root, 'build', 'Prebuilt', ADDON_FILE);
  if (fs.existsSync(relocated)) {
    return { found: { path: relocated, via: 'prebuilt re-pointed at install', loadHint: sourceHint } };
  }
  return fromPlatformPackage(root, rebuild);
}

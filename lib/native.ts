/**
 * The native surface, declared once and kept private: everything public is built on top of it in
 * TypeScript (zeromq.js style). Loading is lazy so that importing the package for its config classes
 * never needs the addon, and a missing build explains itself instead of failing inside require().
 */
import * as fs from 'fs';
import * as path from 'path';
import { TorchrecError } from './errors';

/** One table as the core needs it; built from a validated EmbeddingBagConfig. */
export interface NativeTableSpec {
  name: string;
  numEmbeddings: number;
  embeddingDim: number;
  dataType: 'fp32' | 'fp16';
  pooling: 'SUM' | 'MEAN';
  featureNames: string[];
  initMin: number;
  initMax: number;
}

export type NativeIdArray = Int32Array | BigInt64Array;

/** forward's KJT arguments: keys, values, lengths | null, offsets | null, weights | null, stride. */
export type NativeKjtArgs = [
  string[],
  NativeIdArray,
  NativeIdArray | null,
  NativeIdArray | null,
  Float32Array | null,
  number,
];

export interface NativeEmbeddingBagCollection {
  outputKeys(): string[];
  outputDims(): number[];
  forwardSync(...kjt: NativeKjtArgs): Float32Array;
  forward(...kjt: NativeKjtArgs): Promise<Float32Array>;
  getWeights(table: string): Float32Array;
  setWeights(table: string, data: Float32Array): void;
  dispose(): void;
}

export interface NativeBuildInfo {
  torchVersion: string;
  cuda: boolean;
  parallel: string;
}

export interface NativeAddon {
  init(errorClass: typeof TorchrecError): void;
  setNumThreads(threads: number): void;
  getNumThreads(): number;
  buildInfo: NativeBuildInfo;
  NativeEmbeddingBagCollection: new (
    tables: NativeTableSpec[],
    isWeighted: boolean,
    seed: number,
  ) => NativeEmbeddingBagCollection;
}

const ADDON_FILE = 'torchrec_node.node';

function candidatePaths(): string[] {
  const root = path.resolve(__dirname, '..');
  const fromEnv = process.env.TORCHREC_NODE_ADDON;
  return [
    ...(fromEnv ? [fromEnv] : []),
    path.join(root, 'build', 'Release', ADDON_FILE),
    path.join(root, 'build', 'Debug', ADDON_FILE),
  ];
}

let addon: NativeAddon | undefined;

export function native(): NativeAddon {
  if (addon) return addon;
  const candidates = candidatePaths();
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new TorchrecError(
      'ERR_NATIVE_LOAD',
      `the torchrec-node native addon is not built (looked in ${candidates.join(', ')}). ` +
        'Run `npm run build:native` in the package directory (an install with --ignore-scripts skips it); ' +
        'it needs libtorch, e.g. `sudo apt-get install libtorch-dev` on Debian/Ubuntu.',
    );
  }
  let loaded: NativeAddon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(found) as NativeAddon;
  } catch (e) {
    throw new TorchrecError(
      'ERR_NATIVE_LOAD',
      `the torchrec-node native addon at ${found} failed to load: ${(e as Error).message}. ` +
        'If libtorch was upgraded or moved since the build, rebuild with `npm run build:native`.',
    );
  }
  loaded.init(TorchrecError);
  addon = loaded;
  return loaded;
}

/**
 * Native code creates typed arrays in the realm that loaded the addon; under jest or `vm` that is not
 * the caller's realm, and `instanceof Float32Array` would fail there. Re-viewing the same memory with
 * this realm's constructor costs nothing and keeps `instanceof` honest.
 */
export function ownRealm(x: Float32Array): Float32Array {
  if (x instanceof Float32Array) return x;
  const foreign = x as { buffer: ArrayBuffer; byteOffset: number; length: number };
  return new Float32Array(foreign.buffer, foreign.byteOffset, foreign.length);
}

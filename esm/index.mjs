// ESM entry of torchrec-node: the CommonJS build (dist/) re-exported, so `import { … } from 'torchrec-node'`
// and `require('torchrec-node')` share one module instance (one native addon, one TorchrecError class).
// Named exports come from Node's static analysis of dist/index.js (tsc's output is analysable);
// test/packaging/esm_types.test.ts checks that they are all there.
import cjs from '../dist/index.js';

export * from '../dist/index.js';
export default cjs;

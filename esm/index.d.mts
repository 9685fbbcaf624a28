// Types of the ESM entry: the same declarations as the CommonJS build.
import * as cjs from '../dist/index.js';

export * from '../dist/index.js';
export default cjs;

/**
 * Lets a plain `node` process (a child process or a worker thread started by a test) require the
 * TypeScript sources in lib/ directly, as ts-jest does for the test process: each .ts file is
 * transpiled to CommonJS with the project's own `typescript` (no type check). No output directory,
 * so lib/native.ts finds the addon exactly as it does in the test process (TORCHREC_NODE_ADDON, else
 * build/Release). Use: `node -r ./test/helpers/ts_register.js script.js`, or require it first.
 *
 * Transpiled files are cached in $TMPDIR/torchrec-node-ts-register, keyed by a hash of the path, the
 * source and the typescript version, so that children and workers after the first start quickly.
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const CACHE_DIR = path.join(os.tmpdir(), 'torchrec-node-ts-register');
const TS_VERSION = require('typescript/package.json').version;
let ts;

function transpile(source, filename) {
  const key = crypto.createHash('sha1').update(`${TS_VERSION}\0${filename}\0${source}`).digest('hex');
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // not cached yet
  }
  ts = ts || require('typescript');
  const { outputText } = ts.transpileModule(source, {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2020,
      esModuleInterop: true,
      sourceMap: false,
      inlineSourceMap: false,
    },
  });
  try {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    // Write then rename, so that a concurrent reader never sees half a file.
    const tmp = `${cached}.${process.pid}.${require('worker_threads').threadId}.tmp`;
    fs.writeFileSync(tmp, outputText);
    fs.renameSync(tmp, cached);
  } catch {
    // a read-only or full tmp only costs speed
  }
  return outputText;
}

if (!require.extensions['.ts']) {
  require.extensions['.ts'] = function compileTs(module, filename) {
    module._compile(transpile(fs.readFileSync(filename, 'utf8'), filename), filename);
  };
}

/**
 * (d) One package, three ways in: CommonJS `require`, ESM `import` (package.json `exports`: esm/index.mjs
 * re-exports the CommonJS build) and TypeScript types for both (`types` conditions), checked on the
 * installed package in a fresh project.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  cleanEnv,
  ensurePackages,
  FIXTURE_TIMEOUT_MS,
  FORWARD_EXPECTED,
  freshProject,
  NODE_MODULES,
  npmInstall,
  ok,
  parseLastJson,
  removeCreated,
  run,
} from './helpers';

let project: string;

beforeAll(() => {
  const pk = ensurePackages();
  project = freshProject('esm');
  ok(npmInstall(project, ['--ignore-scripts', pk.main, pk.platform], cleanEnv()), 'npm install');
}, FIXTURE_TIMEOUT_MS);

afterAll(removeCreated);

const ESM = `
import * as ns from 'torchrec-node';
import tr, { EmbeddingBagCollection, KeyedJaggedTensor, TorchrecError } from 'torchrec-node';
import { createRequire } from 'module';
const cjs = createRequire(import.meta.url)('torchrec-node');
const ebc = new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: 10, embedding_dim: 4, feature_names: ['f'] }], seed: 0 });
ebc.setWeights('t', Float32Array.from({ length: 40 }, (_, i) => i));
const kt = await ebc.forward(KeyedJaggedTensor.fromLengths({ keys: ['f'], values: [1, 2, 3], lengths: [2, 1] }));
console.log(JSON.stringify({
  values: Array.from(kt.values()),
  cjsKeys: Object.keys(cjs).sort(),
  esmKeys: Object.keys(ns).filter((k) => k !== 'default' && k !== '__esModule').sort(),
  sameModule: tr === cjs && TorchrecError === cjs.TorchrecError,
}));
`;

test('ESM import: every CommonJS export is a named export, one module instance, and a forward runs', () => {
  fs.writeFileSync(path.join(project, 'esm.mjs'), ESM);
  const r = ok(run(process.execPath, ['esm.mjs'], { cwd: project, env: cleanEnv() }), 'esm.mjs');
  const out = parseLastJson<{ values: number[]; cjsKeys: string[]; esmKeys: string[]; sameModule: boolean }>(r.stdout);
  expect(out.values).toEqual(FORWARD_EXPECTED);
  expect(out.esmKeys).toEqual(out.cjsKeys);
  expect(out.cjsKeys).toEqual(expect.arrayContaining(['EmbeddingBagCollection', 'KeyedJaggedTensor', 'loadConfig']));
  expect(out.sameModule).toBe(true);
});

test('CommonJS require resolves to dist/index.js', () => {
  const r = ok(
    run(process.execPath, ['-p', "require.resolve('torchrec-node')"], { cwd: project, env: cleanEnv() }),
    'require.resolve',
  );
  expect(r.stdout.trim()).toBe(path.join(project, 'node_modules', 'torchrec-node', 'dist', 'index.js'));
});

test('a TypeScript consumer compiles against the types, from an ES module and from a CommonJS module', () => {
  fs.writeFileSync(
    path.join(project, 'consumer.mts'),
    `import tr, { EmbeddingBagCollection, KeyedJaggedTensor, KeyedTensor, TorchrecError } from 'torchrec-node';
const ebc: EmbeddingBagCollection = new EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: 10, embedding_dim: 4 }] });
const kt: KeyedTensor = await ebc.forward(KeyedJaggedTensor.fromLengths({ keys: ['t'], values: [1], lengths: [1] }));
const values: Float32Array = kt.values();
const E: typeof TorchrecError = tr.TorchrecError;
export { values, E };
// @ts-expect-error the types are real, not any
ebc.noSuchMethod();
`,
  );
  fs.writeFileSync(
    path.join(project, 'consumer.cts'),
    `import tr = require('torchrec-node');
const ebc: tr.EmbeddingBagCollection = new tr.EmbeddingBagCollection({ tables: [{ name: 't', num_embeddings: 10, embedding_dim: 4 }] });
const keys: string[] = ebc.outputKeys();
// @ts-expect-error the types are real, not any
const n: number = ebc.outputKeys();
export = { keys, n };
`,
  );
  const tsconfig = {
    compilerOptions: {
      noEmit: true,
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      skipLibCheck: false,
      typeRoots: [path.join(NODE_MODULES, '@types')],
      types: ['node'],
    },
    files: ['consumer.mts', 'consumer.cts'],
  };
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
  const tsc = path.join(NODE_MODULES, 'typescript', 'bin', 'tsc');
  const r = run(process.execPath, [tsc, '-p', project], { cwd: project, env: cleanEnv() });
  expect(r.output.trim()).toBe('');
  expect(r.status).toBe(0);
});

/**
 * Quantized tables in state dicts and snapshots: TorchRec's QuantEBC keys (`<t>.weight` uint8 codes,
 * `_qscale` / `_qbias` fp16 [N][1]) that Python's torch.load reads; exact round trips; and float state
 * dicts or snapshots loaded into int tables, quantized on load exactly as quantize() does.
 */
import { execFile } from 'child_process';
import * as path from 'path';
import { DataType, EmbeddingBagCollection } from '../../lib';
import { describePython, PYTHON } from '../checkpoint/helpers';
import { tmpDir } from '../helpers/tmp';
import { stressTable } from './quantized_reference';

const TABLES = [
  { name: 'a', num_embeddings: 21, embedding_dim: 8 },
  { name: 'b', num_embeddings: 14, embedding_dim: 16, data_type: DataType.FP16 },
];

function floatSource(seed: number): EmbeddingBagCollection {
  const src = new EmbeddingBagCollection({ tables: TABLES, seed });
  src.setWeights('a', stressTable(21, 8, 4, seed));
  return src;
}

function intCollection(seed: number): EmbeddingBagCollection {
  return new EmbeddingBagCollection({
    tables: [
      { ...TABLES[0], data_type: DataType.INT4 },
      { ...TABLES[1], data_type: DataType.INT4 },
    ],
    seed,
  });
}

async function stored(ebc: EmbeddingBagCollection): Promise<Record<string, number[]>> {
  const s = await ebc.exportState(['a', 'b']);
  return { a: [...(s.tables.a.weight as Uint8Array)], b: [...(s.tables.b.weight as Uint8Array)] };
}

test('a quantized state dict round-trips exactly into a fresh int collection', async () => {
  const dir = await tmpDir('quant-sd');
  const q = floatSource(1).quantize(DataType.INT4);
  await q.saveStateDict(path.join(dir, 'q.pt'));
  const fresh = intCollection(99);
  expect(await stored(fresh)).not.toEqual(await stored(q));
  await fresh.loadStateDict(path.join(dir, 'q.pt'));
  expect(await stored(fresh)).toEqual(await stored(q));
  q.dispose();
  fresh.dispose();
});

test('a float state dict loaded into int tables is quantized on load, as quantize() does', async () => {
  const dir = await tmpDir('quant-sd-float');
  const src = floatSource(2);
  await src.saveStateDict(path.join(dir, 'f.pt'));
  const fresh = intCollection(98);
  await fresh.loadStateDict(path.join(dir, 'f.pt'));
  expect(await stored(fresh)).toEqual(await stored(src.quantize(DataType.INT4)));
  src.dispose();
  fresh.dispose();
});

test('snapshots of quantized tables round-trip; a float snapshot restores into int tables by quantizing', async () => {
  const dir = await tmpDir('quant-snap');
  const src = floatSource(3);
  const q = src.quantize(DataType.INT4);
  await q.saveSnapshot(path.join(dir, 'q'));
  const fresh = intCollection(97);
  await fresh.restoreSnapshot(path.join(dir, 'q'));
  expect(await stored(fresh)).toEqual(await stored(q));
  await src.saveSnapshot(path.join(dir, 'f'));
  const fromFloat = intCollection(96);
  await fromFloat.restoreSnapshot(path.join(dir, 'f'));
  expect(await stored(fromFloat)).toEqual(await stored(q));
  for (const m of [src, q, fresh, fromFloat]) m.dispose();
});

describePython('Python reads our QuantEBC state dicts', () => {
  test('torch.load: keys, dtypes, shapes, and the dequantized values equal getWeights', async () => {
    const dir = await tmpDir('quant-sd-py');
    const q = floatSource(4).quantize({ a: DataType.INT4, b: DataType.INT4 });
    const file = path.join(dir, 'q.pt');
    await q.saveStateDict(file);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(PYTHON, [path.join(__dirname, 'python', 'read_state_dict.py'), file, '4'], (err, so, se) =>
        err ? reject(new Error(se || err.message)) : resolve(so),
      ),
    );
    const r = JSON.parse(out) as {
      keys: Record<string, { dtype: string; shape: number[] }>;
      dequantized: Record<string, (number | null)[]>;
    };
    expect(r.keys).toEqual({
      'embedding_bags.a.weight': { dtype: 'torch.uint8', shape: [21, 4] },
      'embedding_bags.a.weight_qscale': { dtype: 'torch.float16', shape: [21, 1] },
      'embedding_bags.a.weight_qbias': { dtype: 'torch.float16', shape: [21, 1] },
      'embedding_bags.b.weight': { dtype: 'torch.uint8', shape: [14, 8] },
      'embedding_bags.b.weight_qscale': { dtype: 'torch.float16', shape: [14, 1] },
      'embedding_bags.b.weight_qbias': { dtype: 'torch.float16', shape: [14, 1] },
    });
    for (const t of ['a', 'b']) {
      const got = r.dequantized[`embedding_bags.${t}.weight`];
      const ours = [...q.getWeights(t)];
      // torch's float32 multiply-then-add equals ours bit for bit, except where a value overflows.
      expect(got.map((x) => (x === null ? NaN : Math.fround(x)))).toEqual(ours);
    }
    q.dispose();
  });
});

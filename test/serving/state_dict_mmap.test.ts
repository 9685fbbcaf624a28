/**
 * State dicts and mapping: saveStateDict aligns every record to 64 bytes as torch.save does (checked
 * with Python's zipfile, and torch.load still reads the file), and a file torch.save wrote maps in place.
 */
import * as path from 'path';
import { execFile } from 'child_process';
import { Mode } from '../../lib';
import { describePython, PYTHON } from '../checkpoint/helpers';
import { tmpDir } from '../helpers/tmp';
import { sameBits } from '../helpers/reliability';
import { batch, makeEbc, TABLES } from './helpers';

function py<T>(...args: string[]): Promise<T> {
  return new Promise((resolve, reject) =>
    execFile(PYTHON, [path.join(__dirname, 'python', 'aligned.py'), ...args], (err, stdout, stderr) =>
      err ? reject(new Error(stderr || err.message)) : resolve(JSON.parse(stdout) as T),
    ),
  );
}

describePython('state dicts that map (Python torch)', () => {
  test('saveStateDict: every record starts on a 64-byte boundary, and torch.load reads the file', async () => {
    const m = makeEbc(21);
    const file = path.join(tmpDir('sd-align'), 'model.pt');
    await m.saveStateDict(file);
    const offsets = await py<Record<string, number>>('offsets', file);
    expect(Object.keys(offsets).sort()).toEqual(['model/data.pkl', 'model/data/0', 'model/data/1', 'model/version']);
    for (const [name, at] of Object.entries(offsets)) expect({ name, mod: at % 64 }).toEqual({ name, mod: 0 });
    const loaded = await py<Record<string, [string, number[], number]>>('load', file);
    expect(loaded['embedding_bags.user.weight'].slice(0, 2)).toEqual(['torch.float32', [300, 16]]);
    expect(loaded['embedding_bags.tweet.weight'].slice(0, 2)).toEqual(['torch.float16', [200, 8]]);
    const sum = (w: Float32Array): number => w.reduce((a, b) => a + b, 0);
    expect(loaded['embedding_bags.user.weight'][2]).toBeCloseTo(sum(m.getWeights('user')), 2);
    m.dispose();
  });

  test("a torch.save'd state dict maps in place, equal to an in-memory load", async () => {
    const file = path.join(tmpDir('sd-torch'), 'model.pt');
    await py('save', file);
    const offsets = await py<Record<string, number>>('offsets', file);
    for (const at of Object.values(offsets)) expect(at % 64).toBe(0); // torch.save's own alignment
    const mapped = makeEbc(1);
    const copied = makeEbc(2);
    await mapped.loadStateDict(file, { mmap: true });
    await copied.loadStateDict(file);
    expect(mapped.tableStorage()).toEqual({ user: 'mmap', tweet: 'mmap' });
    expect(mapped.mode).toBe(Mode.INFERENCE);
    for (const t of TABLES) expect(sameBits(mapped.getWeights(t.name), copied.getWeights(t.name))).toBe(true);
    const [a, b] = await Promise.all([mapped.forward(batch(40)), copied.forward(batch(40))]);
    expect(sameBits(a.values(), b.values())).toBe(true);
    mapped.dispose();
    copied.dispose();
  });
});

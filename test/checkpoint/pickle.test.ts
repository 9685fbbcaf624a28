/**
 * The pickle writer and reader against each other beyond what small tables exercise (ints that need
 * BININT2, BININT and LONG1), and fp16 rounding against torch's on awkward values.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { decodeFloats, floatToHalf } from '../../lib/checkpoint/dtypes';
import { pickleStateDict } from '../../lib/checkpoint/pickle_writer';
import { PyDict, TensorRef, unpickle } from '../../lib/checkpoint/pickle_reader';
import { describePython, python, randomFloats, sha256, tmpDir } from './helpers';

describe('pickle writer → reader', () => {
  test('shapes and storage sizes of every integer width survive', () => {
    const shapes = [
      [3, 200],
      [70_000, 3],
      [3_000_000_000, 1],
    ];
    const data = pickleStateDict(
      shapes.map((shape, i) => ({
        key: `embedding_bags.t${i}.weight`,
        storageKey: String(i),
        dtype: 'float16',
        shape,
      })),
    );
    const root = unpickle(data, 'test');
    expect(root).toBeInstanceOf(PyDict);
    const d = root as PyDict;
    expect(d.ordered).toBe(true);
    shapes.forEach((shape, i) => {
      const t = d.map.get(`embedding_bags.t${i}.weight`) as TensorRef;
      expect(t).toBeInstanceOf(TensorRef);
      expect(t.size).toEqual(shape);
      expect(t.stride).toEqual([shape[1], 1]);
      expect(t.storage).toMatchObject({
        key: String(i),
        dtype: 'float16',
        location: 'cpu',
        numel: shape[0] * shape[1],
      });
    });
    expect(d.attrs).toBeInstanceOf(PyDict);
  });

  test('opcodes outside the supported subset are refused with their code', () => {
    // protocol 2, INST (text-mode object creation) — never in a torch.save'd state dict
    const inst = Buffer.concat([
      Buffer.from([0x80, 0x02, 0x28]),
      Buffer.from('ios\nsystem\n', 'latin1'),
      Buffer.from([0x2e]),
    ]);
    expect(() => unpickle(inst, 'inst.pkl')).toThrow(/inst\.pkl: unsupported pickle opcode 0x69/);
    const truncated = pickleStateDict([{ key: 'k', storageKey: '0', dtype: 'float32', shape: [2, 2] }]).subarray(0, 40);
    expect(() => unpickle(truncated, 'cut.pkl')).toThrow(/cut\.pkl: truncated pickle/);
  });
});

describePython('fp16 conversions agree with torch', () => {
  test('float → half rounds to nearest even like torch .half(), and half → float is exact', async () => {
    const dir = tmpDir('half');
    try {
      // random values at every magnitude, plus ties, subnormals, overflow, infinities, NaN-free
      const xs = Array.from(randomFloats(20_000, 3)).map((v, i) => v * 2 ** ((i % 60) - 30));
      xs.push(
        65504,
        65520,
        65519.99,
        1e9,
        -1e9,
        Infinity,
        -Infinity,
        0,
        -0,
        2 ** -24,
        2 ** -25,
        3 * 2 ** -26,
        2 ** -14,
        1 + 2 ** -11,
        1 + 3 * 2 ** -11,
      );
      const f = Float32Array.from(xs);
      const file = path.join(dir, 'x.f32');
      await fsp.writeFile(file, new Uint8Array(f.buffer));
      const py = await python<{ half_sha: string; half_back_sha: string }>('state_dicts.py', ['half', file]);
      const h = Uint16Array.from(f, (v) => floatToHalf(v));
      expect(sha256(h)).toBe(py.half_sha);
      const back = new Float32Array(h.length);
      decodeFloats(new Uint8Array(h.buffer), 'float16', h.length, back, 0);
      expect(sha256(back)).toBe(py.half_back_sha);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Memory of mapped tables, measured in child processes (RSS of a whole process): a mapped restore
 * of a 512 MiB table does not copy it, and four worker threads mapping the same snapshot share one
 * mapping, staying near 1x the table even after each has read every row.
 */
import * as path from 'path';
import { tmpDir } from '../helpers/tmp';
import { lastJson } from '../helpers/reliability';
import { runServingChild } from './helpers';

const MiB = 1024 * 1024;
const TABLE = 512 * MiB;

describe('resident memory of mapped tables (512 MiB table, child processes)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = path.join(tmpDir('rss'), 'big');
    const r = await runServingChild('big_table.ts', ['save', dir], { timeoutMs: 300000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  }, 300000);

  test('a mapped restore grows RSS far less than the table; a copying restore grows it by the table', async () => {
    const run = async (mode: string) => {
      const r = await runServingChild('big_table.ts', ['restore', dir, mode], {
        nodeArgs: ['--expose-gc'],
        timeoutMs: 300000,
      });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      return lastJson<{
        baseline: number;
        built: number;
        restored: number;
        served: number;
        anonGrowth: number;
        fileGrowth: number;
        storage: string;
      }>(r);
    };
    const mapped = await run('mmap');
    expect(mapped.storage).toBe('mmap');
    // The collection's own 512 MiB (built - baseline) is released and the file is not read.
    expect(mapped.built - mapped.baseline).toBeGreaterThan(0.9 * TABLE);
    expect(mapped.restored - mapped.baseline).toBeLessThan(0.1 * TABLE);
    // Serving reads the file's pages in place: no anonymous copy of the table ever appears. (The file
    // pages a lookup maps count in RSS — whole 2 MiB folios where the page cache holds them so — but
    // they are the shared page cache, not this process's memory.)
    expect(mapped.anonGrowth).toBeLessThan(0.1 * TABLE);
    expect(mapped.fileGrowth).toBeLessThan(1.1 * TABLE);
    const copied = await run('copy');
    expect(copied.storage).toBe('memory');
    expect(copied.restored - copied.baseline).toBeGreaterThan(0.9 * TABLE); // the control: a copy is resident
  }, 600000);

  test('4 worker threads mapping the same snapshot, each reading every row, stay near 1x the table', async () => {
    const r = await runServingChild('big_table.ts', ['workers', dir, '4'], {
      nodeArgs: ['--expose-gc'],
      timeoutMs: 600000,
    });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const { baseline, after, mappings } = lastJson<{ baseline: number; after: number[]; mappings: number }>(r);
    expect(mappings).toBe(1);
    // One worker that has read every row holds the table once (file pages) ...
    expect(after[0] - baseline).toBeGreaterThan(0.9 * TABLE);
    // ... and three more add their threads' own memory, not the table again (4 copies would add 1.5 GiB).
    expect(after[3] - after[0]).toBeLessThan(0.5 * TABLE);
    expect(after[3] - baseline).toBeLessThan(1.5 * TABLE);
  }, 600000);
});

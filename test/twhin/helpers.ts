/** A tiny planted-community graph and a TwHIN config over it, shared by the TwHIN tests. */
import * as path from 'path';
import { TwhinConfig } from '../../examples/twhin/config';
import { demoConfig, DemoSizes } from '../../examples/twhin/demo_config';
import { generateGraph } from '../../examples/twhin/generate';

export const TINY: DemoSizes = {
  users: 400,
  tweets: 200,
  relations: 2,
  dim: 8,
  batchSize: 100,
  negatives: 5,
  steps: 300,
  lr: 0.5,
};

export { tmpDir } from '../helpers/tmp';

export async function tinyGraph(dir: string): Promise<{ train: string; validation: string }> {
  return generateGraph(path.join(dir, 'data'), {
    users: TINY.users,
    tweets: TINY.tweets,
    communities: 4,
    relations: TINY.relations,
    trainEdges: 6000,
    validationEdges: 1000,
    seed: 3,
  });
}

/** The raw (YAML-shaped) config; tweak it, then validate with `new TwhinConfig`. */
export function tinyRawConfig(
  data: { train: string; validation: string },
  saveDir: string,
  sizes: Partial<DemoSizes> = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests write arbitrary, even invalid, fields into it
): any {
  return demoConfig(data, saveDir, { ...TINY, ...sizes });
}

export function tinyConfig(
  data: { train: string; validation: string },
  saveDir: string,
  sizes: Partial<DemoSizes> = {},
): TwhinConfig {
  return new TwhinConfig(tinyRawConfig(data, saveDir, sizes));
}

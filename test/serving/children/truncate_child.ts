/**
 * Child of hostile_mapped.test.ts: restores a snapshot with mmap, truncates the user table's file in
 * place under the live mapping, and forwards over the lost rows. Without the SIGBUS handling of
 * core/file_mapping.h this process dies of SIGBUS; with it, the forward is ERR_CHECKPOINT. Prints one
 * JSON line.  Args: <snapshot dir> <fresh snapshot dir>
 */
import * as fs from 'fs';
import * as path from 'path';
import { KeyedJaggedTensor, TorchrecError } from '../../../lib';
import { makeEbc } from '../helpers';

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof TorchrecError ? `${e.code}: ${e.message}` : `other: ${String(e)}`;
  }
};

async function main(): Promise<void> {
  const [dir, fresh] = process.argv.slice(2);
  const m = makeEbc(1);
  await m.restoreSnapshot(dir, { mmap: true });
  const row = (id: number): KeyedJaggedTensor =>
    KeyedJaggedTensor.fromLengths({ keys: ['user', 'tweet'], values: [id, 0], lengths: [1, 1] });
  const before = await codeOf(m.forward(row(299)));
  fs.truncateSync(path.join(dir, '0', 'model', 'embedding_bags.user.weight'), 4096); // rows 0..63 survive
  const lost = await codeOf(m.forward(row(299)));
  const again = await codeOf(m.forward(row(0)));
  const read = (() => {
    try {
      m.getWeights('user');
      return 'ok';
    } catch (e) {
      return e instanceof TorchrecError ? e.code : String(e);
    }
  })();
  await m.restoreSnapshot(fresh, { mmap: true });
  const restored = await codeOf(m.forward(row(299)));
  m.dispose();
  console.log(JSON.stringify({ before, lost, again, read, restored }));
}

main().catch((e: unknown) => {
  console.log(JSON.stringify({ crashed: String(e) }));
  process.exit(1);
});

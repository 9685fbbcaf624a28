/**
 * A build without CUDA says so: `device: 'cuda'` is ERR_DEVICE with a message that says how to get a
 * CUDA build. Runs on every CPU-only build (CI); skipped, with the reason in its title, on CUDA builds.
 */
import { buildInfo, EmbeddingBagCollection, LargeEmbeddings } from '../../lib';
import { expectThrows } from '../helpers/errors';
import { CUDA_BUILD, describeIf } from './helpers';

const tables = [{ name: 't', num_embeddings: 10, embedding_dim: 4, data_type: 'fp32' }];

describeIf(!CUDA_BUILD, 'CPU-only build', 'this build has CUDA; test/cuda/forward.test.ts covers it', () => {
  test('buildInfo().cuda is false', () => {
    expect(buildInfo().cuda).toBe(false);
  });

  test.each(['cuda', 'cuda:0', 'cuda:1'])('device "%s" is ERR_DEVICE saying how to build with CUDA', (device) => {
    const build = () => new EmbeddingBagCollection({ tables, device });
    expectThrows(
      build,
      'ERR_DEVICE',
      `device "${device}"`,
      /no CUDA support/,
      // How to fix it: rebuild against a CUDA libtorch, from either source.
      /Rebuild against a CUDA libtorch/,
      /LIBTORCH/,
      /PyTorch/,
    );
  });

  test('LargeEmbeddings with device "cuda" is ERR_DEVICE too', () => {
    expect(() => new LargeEmbeddings({ tables }, { device: 'cuda' })).toThrow(
      expect.objectContaining({ code: 'ERR_DEVICE' }),
    );
  });

  test('an unknown device is ERR_DEVICE naming the valid ones', () => {
    expect(() => new EmbeddingBagCollection({ tables, device: 'gpu' })).toThrow(
      expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/"cpu", "cuda" or "cuda:N"/) }),
    );
  });
});

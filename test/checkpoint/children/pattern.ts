/**
 * The weights the save-loop child writes at step `step`: exact in fp32 and fp16, different for every
 * step, so a restored table proves which save it came from and that it is whole.
 */
export function pattern(step: number, n: number, shift = 0): Float32Array {
  const out = new Float32Array(n);
  const base = (step % 200) + shift;
  for (let j = 0; j < n; j++) out[j] = base + (j % 8) / 8;
  return out;
}

export const CHILD_TABLES = [
  { name: 'big', num_embeddings: 200_000, embedding_dim: 32, optimizer: { adagrad: { lr: 0.1 } } },
  { name: 'small', num_embeddings: 20_000, embedding_dim: 16, data_type: 'fp16' },
];

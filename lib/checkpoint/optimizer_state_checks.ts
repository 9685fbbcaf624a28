/**
 * What a restore checks in optimizer state before it changes anything: the values a table's
 * optimizer can hold. Non-finite state is refused: setOptimizerState refuses it too, and Adagrad's or
 * Adam's rule would turn it into NaN or frozen rows. (The library can produce it itself — Adam with a
 * gradient near float's limit overflows momentum2 to +Inf — which is why the check names the table
 * and the first bad element: a snapshot that holds it was saved after training had already diverged.)
 * Sums and averages of squared gradients must also be >= 0: a negative Adagrad momentum1 makes
 * sqrt(m) NaN and the weights -Inf one step later.
 */
import { EmbeddingBagConfig } from '../config/embedding';
import { optimizerAlgorithm } from '../config/optimizer';

/** The state names that hold sums or averages of squares under the table's optimizer. */
function nonNegativeStates(t: EmbeddingBagConfig): readonly string[] {
  if (t.optimizer === undefined) return [];
  switch (optimizerAlgorithm(t.optimizer)) {
    case 'adagrad':
    case 'rowwise_adagrad':
      return ['momentum1'];
    case 'adam':
    case 'partial_rowwise_adam':
    case 'lamb':
      return ['momentum2'];
    default:
      return [];
  }
}

/** Why `data` cannot be table `t`'s optimizer state `name`, or undefined when it can. */
export function optimizerStateIssue(t: EmbeddingBagConfig, name: string, data: Float32Array): string | undefined {
  const nonNegative = nonNegativeStates(t).includes(name);
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    if (!Number.isFinite(x)) {
      return `optimizer state ${name} of table ${t.name} holds a non-finite value (${x} at element ${i})`;
    }
    if (nonNegative && x < 0) {
      return (
        `optimizer state ${name} of table ${t.name} holds ${x} at element ${i}; ` +
        `it accumulates squared gradients and must be >= 0`
      );
    }
  }
  return undefined;
}

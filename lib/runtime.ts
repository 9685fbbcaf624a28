/** Process-wide native settings. */
import { native, NativeBuildInfo } from './native';
import { TorchrecError } from './errors';

/** libtorch's intra-op thread count (defaults to the available cores). */
export function setNumThreads(threads: number): void {
  if (!Number.isSafeInteger(threads) || threads < 1) {
    throw new TorchrecError(
      'ERR_INVALID_ARGUMENT',
      `setNumThreads: threads must be a positive integer, got ${threads}`,
    );
  }
  native().setNumThreads(threads);
}

export function getNumThreads(): number {
  return native().getNumThreads();
}

/** The libtorch this addon was built against, and whether it has CUDA. */
export function buildInfo(): NativeBuildInfo {
  return { ...native().buildInfo };
}

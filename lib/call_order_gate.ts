/**
 * One collection's call order around work that nothing may overtake (a restore, a state-dict load, a
 * save's read): async calls made while it runs are submitted once it has finished, so they see its
 * result, and sync calls are refused, since they cannot wait.
 */
import { TorchrecError } from './errors';
import type { NativeKjtArgs } from './native';

export class CallOrderGate {
  /** Settles when the work run() started has finished; null when none runs. */
  private gate: Promise<void> | null = null;

  /** Whether such work is running (or queued). */
  get busy(): boolean {
    return this.gate !== null;
  }

  /** Runs `work` after any work already gated, and gates the calls made meanwhile on it. */
  run<T>(work: () => Promise<T>): Promise<T> {
    // Cleared before the caller's `await` resumes, so the caller's next sync call is not refused.
    const run = this.submit(work).finally(() => {
      if (this.gate === gate) this.gate = null;
    });
    const gate: Promise<void> = run.then(
      () => undefined,
      () => undefined,
    );
    this.gate = gate;
    return run;
  }

  /** Submits `fn` now, or once the gated work (and any queued before it) has finished. */
  submit<T>(fn: () => Promise<T>): Promise<T> {
    return this.gate ? this.gate.then(fn) : fn();
  }

  /** submit() for a KJT call: the arrays are copied when the call waits, so the caller may reuse them. */
  submitKjt<T>(args: NativeKjtArgs, fn: (a: NativeKjtArgs) => Promise<T>): Promise<T> {
    if (!this.gate) return fn(args);
    const [keys, values, lengths, offsets, weights, stride] = args;
    const copy: NativeKjtArgs = [
      [...keys],
      values.slice(),
      lengths?.slice() ?? null,
      offsets?.slice() ?? null,
      weights?.slice() ?? null,
      stride,
    ];
    return this.submit(() => fn(copy));
  }

  /** A sync call cannot wait for gated work: it is refused while any runs. */
  refuseSync(method: string): void {
    if (this.gate) {
      throw new TorchrecError(
        'ERR_INVALID_ARGUMENT',
        `${method}: a restore or load is in progress on this collection; await it before calling ${method} ` +
          '(async calls such as forward wait for it by themselves)',
      );
    }
  }
}

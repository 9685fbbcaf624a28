/**
 * Where the training loop reports: a live progress bar when stdout is a terminal, else one JSON
 * object per line (machine-readable logs for CI and log collectors). Records are the same either way.
 */
import { MultiBar, Presets, SingleBar } from 'cli-progress';

export type LogRecord = Record<string, unknown> & { event: string };

export interface Reporter {
  start(total: number, step: number): void;
  update(step: number, loss: number): void;
  log(record: LogRecord): void;
  stop(): void;
}

function fmt(x: unknown): string {
  return typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toPrecision(4)) : JSON.stringify(x);
}

export class JsonLinesReporter implements Reporter {
  constructor(private readonly write: (line: string) => void = (l) => process.stdout.write(l)) {}
  start(): void {}
  update(): void {}
  log(record: LogRecord): void {
    this.write(`${JSON.stringify(record)}\n`);
  }
  stop(): void {}
}

export class ProgressBarReporter implements Reporter {
  private readonly multi = new MultiBar(
    { format: ' {bar} {value}/{total} steps | loss {loss} | {rate} steps/s', hideCursor: true },
    Presets.shades_classic,
  );
  private bar?: SingleBar;
  private started = Date.now();
  private startStep = 0;

  start(total: number, step: number): void {
    this.started = Date.now();
    this.startStep = step;
    this.bar = this.multi.create(total, step, { loss: '-', rate: '-' });
  }

  update(step: number, loss: number): void {
    const rate = (step - this.startStep) / Math.max(1e-3, (Date.now() - this.started) / 1000);
    this.bar?.update(step, { loss: loss.toFixed(4), rate: rate.toFixed(1) });
  }

  log(record: LogRecord): void {
    const { event, ...rest } = record;
    const text = Object.entries(rest)
      .map(([k, x]) => `${k}=${typeof x === 'object' && x !== null ? JSON.stringify(x) : fmt(x)}`)
      .join(' ');
    this.multi.log(`[${event}] ${text}\n`);
  }

  stop(): void {
    this.multi.stop();
  }
}

/** The bar on a TTY, JSON lines otherwise; `progress` forces either. */
export function defaultReporter(progress?: boolean): Reporter {
  return (progress ?? Boolean(process.stdout.isTTY)) ? new ProgressBarReporter() : new JsonLinesReporter();
}

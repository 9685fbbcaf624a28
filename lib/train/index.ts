/** Trainer utilities: the training loop, its snapshot housekeeping and reporting, and metrics. */
export { train } from './trainer';
export type { ExtraState, StepResult, TrainableModule, TrainOptions, TrainResult } from './trainer';
export { auc, mrr, pick, stratified } from './metrics';
export { JsonLinesReporter, ProgressBarReporter, defaultReporter } from './progress';
export type { LogRecord, Reporter } from './progress';
export { newestSnapshot, TRAINER_STATE } from './snapshots';
export type { TrainerState } from './snapshots';

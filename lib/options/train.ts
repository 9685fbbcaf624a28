/** The options of train(): every field checked, with its name, before the first step runs. */
import {
  Validator,
  at,
  checkString,
  describe,
  readBoolean,
  readFunction,
  readList,
  readNumber,
  readObject,
  validateRoot,
} from '../config/validate';
import type { Reporter } from '../train/progress';
import type { ExtraState, StepResult, TrainableModule, TrainOptions } from '../train/trainer';

/** TrainOptions with the defaults filled in. */
export interface ResolvedTrainOptions {
  model: TrainableModule;
  trainStep: (step: number) => Promise<StepResult>;
  numTrainSteps: number;
  evaluate?: () => Promise<Record<string, unknown>>;
  evalEveryN?: number;
  trainLogEveryN: number;
  tablesToLog?: readonly string[];
  saveDir?: string;
  checkpointEveryN?: number;
  keepSnapshots: number;
  extraState?: ExtraState;
  resume: boolean;
  progress?: boolean;
  reporter?: Reporter;
  handleSigint: boolean;
}

const FIELDS: readonly (keyof TrainOptions)[] = [
  'model',
  'trainStep',
  'numTrainSteps',
  'evaluate',
  'evalEveryN',
  'trainLogEveryN',
  'tablesToLog',
  'saveDir',
  'checkpointEveryN',
  'keepSnapshots',
  'extraState',
  'resume',
  'progress',
  'reporter',
  'handleSigint',
];

/**
 * An object (any class: a module, a reporter) with the methods the loop will call. Checked up front
 * so that a wrong object fails before training, not at the first snapshot or log line.
 */
function readImplementation<T>(
  v: Validator,
  o: Record<string, unknown>,
  key: string,
  path: string,
  methods: readonly string[],
  what: string,
  required = false,
): T | undefined {
  const x = o[key];
  const p = at(path, key);
  if (x === undefined || x === null) {
    if (required) v.add(p, 'is required');
    return undefined;
  }
  if (typeof x !== 'object') {
    v.add(p, `must be ${what}, got ${describe(x)}`);
    return undefined;
  }
  const before = v.count;
  for (const m of methods) {
    const f: unknown = (x as Record<string, unknown>)[m];
    if (typeof f !== 'function') v.add(at(p, m), `must be a function (${what}), got ${describe(f)}`);
  }
  return v.count === before ? (x as T) : undefined;
}

function readTrainOptions(v: Validator, raw: unknown, path: string): ResolvedTrainOptions | undefined {
  const o = readObject(v, raw, path, FIELDS);
  if (!o) return undefined;
  const model = readImplementation<TrainableModule>(
    v,
    o,
    'model',
    path,
    ['setStep', 'saveSnapshot', 'restoreSnapshot'],
    'a module such as LargeEmbeddings or EmbeddingBagCollection',
    true,
  );
  const trainStep = readFunction<ResolvedTrainOptions['trainStep']>(v, o, 'trainStep', path, true);
  const numTrainSteps = readNumber(v, o, 'numTrainSteps', path, 'positiveInt', true);
  const out = {
    model,
    trainStep,
    numTrainSteps,
    evaluate: readFunction<NonNullable<ResolvedTrainOptions['evaluate']>>(v, o, 'evaluate', path),
    evalEveryN: readNumber(v, o, 'evalEveryN', path, 'positiveInt'),
    trainLogEveryN: readNumber(v, o, 'trainLogEveryN', path, 'positiveInt') ?? 100,
    // Which names are tables is tableNorms' to check, on the model that has them.
    tablesToLog: readList(v, o, 'tablesToLog', path, checkString),
    saveDir: o.saveDir === undefined || o.saveDir === null ? undefined : checkString(v, o.saveDir, at(path, 'saveDir')),
    checkpointEveryN: readNumber(v, o, 'checkpointEveryN', path, 'positiveInt'),
    keepSnapshots: readNumber(v, o, 'keepSnapshots', path, 'positiveInt') ?? 3,
    extraState: readImplementation<ExtraState>(v, o, 'extraState', path, ['save', 'restore'], 'an ExtraState'),
    resume: readBoolean(v, o, 'resume', path) ?? true,
    progress: readBoolean(v, o, 'progress', path),
    reporter: readImplementation<Reporter>(v, o, 'reporter', path, ['start', 'update', 'log', 'stop'], 'a Reporter'),
    handleSigint: readBoolean(v, o, 'handleSigint', path) ?? true,
  };
  if (model === undefined || trainStep === undefined || numTrainSteps === undefined) return undefined;
  return { ...out, model, trainStep, numTrainSteps };
}

/** Defaults filled in; ERR_INVALID_ARGUMENT (train's code for its arguments) listing every bad field. */
export function validateTrainOptions(raw: unknown): ResolvedTrainOptions {
  return validateRoot('train options', raw, readTrainOptions, 'ERR_INVALID_ARGUMENT');
}

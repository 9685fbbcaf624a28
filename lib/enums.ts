export enum DataType {
  FP32 = 'fp32',
  FP16 = 'fp16',
  /** Row-wise quantized (FBGEMM's TBE inference layout: fp16 scale and bias per row), inference only. */
  INT8 = 'int8',
  INT4 = 'int4',
  INT2 = 'int2',
}

export enum PoolingType {
  SUM = 'SUM',
  MEAN = 'MEAN',
}

export enum Mode {
  TRAIN = 'train',
  EVALUATE = 'evaluate',
  INFERENCE = 'inference',
}

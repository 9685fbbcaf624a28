export enum DataType {
  FP32 = 'fp32',
  FP16 = 'fp16',
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

// The library's public API.
export { Tensor, tensor, liveTensors, reportedNativeBytes } from './tensor/tensor.js';
export type { MemoryFormat } from './tensor/tensor.js';
export { scope, noGrad, enableGrad, isGradEnabled } from './tensor/context.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export { ArgumentError } from './tensor/validate.js';
export type { OpFn } from './tensor/exec.js';
export * as ops from './tensor/ops.js';
export * as F from './nn/functional.js';
export { Module } from './nn/module.js';
export { Linear, Conv3d, BatchNorm3d, Dropout, LSTM } from './nn/layers.js';
export { SGD } from './optim/sgd.js';
export type { SgdOptions, SgdState } from './optim/sgd.js';
export { setNumThreads, getNumThreads, manualSeed, engineFacts, defaultThreads } from './runtime.js';
export type { EngineFacts } from './runtime.js';

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
export { I3D, i3d, I3D_VARIANTS, Unit3d, InceptionBlock } from './models/i3d.js';
export type { I3DOptions, I3DOutput, I3DVariant, Stream } from './models/i3d.js';
export { loadKerasH5, openKerasH5 } from './weights/keras-h5.js';
export { WeightsError } from './weights/errors.js';
export { loadTfCheckpoint, readCheckpointIndex, checkpointToOurs } from './weights/tf-checkpoint.js';
export type { CheckpointEntry, CheckpointIndex } from './weights/tf-checkpoint.js';
export { saveModel, loadModel, readConfig } from './weights/model-folder.js';
export type { ModelConfig } from './weights/model-folder.js';
export { readSafetensors, writeSafetensors } from './weights/safetensors.js';
export {
  tvl1Flow,
  tvl1FlowAsync,
  tvl1Params,
  TVL1_DEFAULTS,
  FLOW_BOUND,
  flowSequence,
  rgbToGray,
  cropFlow,
  centerCropFlow,
  scaleFlow,
  flowToClip,
  flowToColor,
  maxFlowMagnitude,
  writeFlowPng,
  setFlowThreads,
  flowFacts,
} from './video/flow.js';
export type { GrayFrame, Tvl1Params, FlowClip, FlowFacts, FlowSequenceOptions } from './video/flow.js';
export { cachedFlow, flowCacheDir, flowCacheKey, hashFile, readFlowFile, writeFlowFile } from './video/flow-cache.js';
export type { FlowArray, FlowCacheSettings, CachedFlowOptions, CachedFlowResult } from './video/flow-cache.js';
export { framesToFlow, videoFlow, flowImplementation } from './video/flow-video.js';
export type { RgbFrame, FramesToFlowOptions, VideoFlowOptions, VideoFlow } from './video/flow-video.js';

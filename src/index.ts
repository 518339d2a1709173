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
export { setNumThreads, getNumThreads, manualSeed, engineFacts, defaultThreads } from './tensor/runtime.js';
export type { EngineFacts } from './tensor/runtime.js';
export { I3D, i3d, I3D_VARIANTS, Unit3d, InceptionBlock } from './models/i3d.js';
export type { I3DOptions, I3DOutput, I3DVariant, Stream } from './models/i3d.js';
export { loadKerasH5, openKerasH5 } from './weights/keras-h5.js';
export { WeightsError } from './weights/errors.js';
export { loadTfCheckpoint, readCheckpointIndex, checkpointToOurs } from './weights/tf-checkpoint.js';
export type { CheckpointEntry, CheckpointIndex } from './weights/tf-checkpoint.js';
export { saveModel, loadModel, readConfig } from './weights/model-folder.js';
export type { ModelConfig } from './weights/model-folder.js';
export { readSafetensors, writeSafetensors } from './weights/safetensors.js';
export * from './net/download.js';
export * from './system/cache-dir.js';
export * from './weights/zoo.js';
export * from './inference/classify.js';
export * from './weights/labels.js';
export * from './inference/clip-input.js';
export * from './inference/predict.js';
export * from './inference/i3d-plan.js';
export * from './inference/engine.js';
export * from './inference/i3d-bench.js';
export { hasBf16, cpuFeatures } from './system/cpu.js';
export { onednnFacts, type Block, type OnednnFacts, type Precision } from './tensor/plan.js';
export { blockForIsa, bf16OnIsa, bf16Unsupported, cpuSupport, type CpuSupport } from './inference/cpu-support.js';
export * from './io/npy.js';
export { loadAny, detectFormat, convert } from './weights/convert.js';
export * from './models/i3d-lstm.js';
export * from './train/schedule.js';
export * from './train/params.js';
export * from './train/metrics.js';
export * from './train/checkpoint.js';
export * from './train/fit.js';
export { movingBars } from './data/moving-bars.js';
export * from './video/errors.js';
export * from './video/probe.js';
export * from './video/decode.js';
export * from './video/sample.js';
export * from './video/clip.js';
export * from './train/trained-model.js';
export * from './train/run.js';
export { loadBackbone } from './weights/backbone.js';
export * from './features/extract.js';
export * from './train/cached-training.js';
export * from './data/synthetic-actions.js';
export { readNpy, readNpyFloat32, writeNpy, NpyError } from './io/npy.js';
export type { NpyArray, NpyData } from './io/npy.js';
export { VideoError } from './video/errors.js';
export type { VideoErrorCode } from './video/errors.js';
export { probeVideo } from './video/probe.js';
export type { VideoInfo, Limits } from './video/probe.js';
export { decodeFrames, countFrames } from './video/decode.js';
export type { Frame, DecodeOptions } from './video/decode.js';
export { sampleIndices, windowIndices, segmentIndices } from './video/sample.js';
export type { SampleMode, SampleOptions } from './video/sample.js';
export { Resizer, resizeShorter, shorterSide, cropOffset, crop, toUnitRange, flipHorizontal } from './video/transforms.js';
export type { CropMode, Window } from './video/transforms.js';
export { loadClip } from './video/clip.js';
export type { Clip, ClipOptions } from './video/clip.js';
export { mulberry32, deriveSeed, shuffle } from './core/rng.js';
export type { Rng } from './core/rng.js';
export {
  scanFolder,
  readSplitList,
  readClassInd,
  stratifiedSplit,
  writeClassIndex,
  readClassIndex,
  inspectDataset,
  DatasetError,
  VIDEO_EXTENSIONS,
} from './data/dataset.js';
export type { Dataset, Sample, SplitOptions, VideoReport, InspectOptions } from './data/dataset.js';
export { BatchGenerator } from './data/generator.js';
export type { Batch, GeneratorOptions } from './data/generator.js';
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
  flowIsa,
  resolveFlowImpl,
  DEFAULT_FLOW_IMPL,
  FLOW_IMPLS,
  FLOW_ISAS,
} from './video/flow.js';
export type { GrayFrame, Tvl1Params, FlowClip, FlowFacts, FlowSequenceOptions, FlowImpl, FlowIsa, FlowImplOptions } from './video/flow.js';
export { cachedFlow, flowCacheDir, flowCacheKey, hashFile, readFlowFile, writeFlowFile } from './video/flow-cache.js';
export type { FlowArray, FlowCacheSettings, CachedFlowOptions, CachedFlowResult } from './video/flow-cache.js';
export { framesToFlow, videoFlow, flowImplementation } from './video/flow-video.js';
export type { RgbFrame, FramesToFlowOptions, VideoFlowOptions, VideoFlow } from './video/flow-video.js';
export * from './train/evaluate.js';
export * from './train/report.js';
export * from './train/demo.js';
export * from './video/encode.js';
export * from './video/frame-cache.js';

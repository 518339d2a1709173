// The library's public API: every name is listed here on purpose (no `export *`); anything else under src/ is
// internal and may change between releases. Grouped by layer, bottom to top (docs/architecture.md).

// core: errors, random numbers, cache folders, downloads, .npy files
export { I3DError, ERRORS, EXIT_CODES, exitCodeOf, isErrorCode } from './core/errors.js';
export type { ErrorCode, ErrorKind } from './core/errors.js';
export { mulberry32, deriveSeed, shuffle } from './core/rng.js';
export type { Rng } from './core/rng.js';
export type { Stream } from './core/stream.js';
export { cacheRoot, cacheDir } from './system/cache-dir.js';
export { hasBf16, cpuFeatures } from './system/cpu.js';
export { download, DownloadError } from './net/download.js';
export type { DownloadProgress, DownloadOptions, DownloadResult } from './net/download.js';
export { readNpy, readNpyFloat32, writeNpy, NpyError } from './io/npy.js';
export type { NpyArray, NpyData } from './io/npy.js';

// tensor: tensors, ops, scopes, the engine's settings, oneDNN facts
export { Tensor, tensor, liveTensors, reportedNativeBytes } from './tensor/tensor.js';
export type { MemoryFormat } from './tensor/tensor.js';
export { scope, noGrad, enableGrad, isGradEnabled } from './tensor/context.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export { ArgumentError } from './tensor/validate.js';
export type { OpFn } from './tensor/exec.js';
export * as ops from './tensor/ops.js';
export { setNumThreads, getNumThreads, manualSeed, engineFacts } from './tensor/runtime.js';
export type { EngineFacts } from './tensor/runtime.js';
export { defaultThreads } from './native/binding.js';
export { onednnFacts } from './tensor/plan.js';
export type { Block, OnednnFacts, Precision } from './tensor/plan.js';

// nn, optim: layers, functional ops, SGD
export * as F from './nn/functional.js';
export { Module } from './nn/module.js';
export { Linear, Conv3d, BatchNorm3d, Dropout, LSTM } from './nn/layers.js';
export { SGD } from './optim/sgd.js';
export type { SgdOptions, SgdState } from './optim/sgd.js';

// models: I3D and I3D-LSTM
export { I3D, i3d, I3D_VARIANTS, Unit3d, InceptionBlock } from './models/i3d.js';
export type { I3DOptions, I3DOutput, I3DVariant } from './models/i3d.js';
export { I3DLSTM } from './models/i3d-lstm.js';
export type { I3DLSTMOptions } from './models/i3d-lstm.js';

// weights: model cards, the zoo, Keras / TensorFlow / safetensors files, model folders
export { MODEL_CARDS, officialPreprocessing, KINETICS_400_LABELS } from './weights/cards.js';
export type { ModelCard, Preprocessing } from './weights/cards.js';
export { ZOO, RANDOM_WEIGHTS, isZooName, resolveWeights, kinetics400LabelsFile } from './weights/zoo.js';
export type { ZooEntry, FetchOptions } from './weights/zoo.js';
export { loadKerasH5, openKerasH5 } from './weights/keras-h5.js';
export { loadTfCheckpoint, readCheckpointIndex, checkpointToOurs } from './weights/tf-checkpoint.js';
export type { CheckpointEntry, CheckpointIndex } from './weights/tf-checkpoint.js';
export { readSafetensors, writeSafetensors } from './weights/safetensors.js';
export { saveModel, loadModel, readConfig } from './weights/model-folder.js';
export { readModelConfig } from './weights/model-config.js';
export type { ModelConfig, I3DLSTMConfig, ModelFolderConfig, I3DLSTMDescription } from './weights/model-config.js';
export { loadAny, detectFormat, convert } from './weights/convert.js';
export { loadBackbone } from './weights/backbone.js';
export { readLabels } from './weights/labels.js';
export { WeightsError } from './weights/errors.js';

// video: probing, decoding, sampling, transforms, clips, TV-L1 optical flow and its cache, encoding
export { VideoError } from './video/errors.js';
export type { VideoErrorCode, VideoProblem } from './video/errors.js';
export { probeVideo, DEFAULT_MAX_PIXELS, DEFAULT_MAX_DURATION_SEC } from './video/probe.js';
export type { VideoInfo, Limits } from './video/probe.js';
export { decodeFrames, countFrames } from './video/decode.js';
export type { Frame, DecodeOptions } from './video/decode.js';
export { sampleIndices, windowIndices, segmentIndices } from './video/sample.js';
export type { SampleMode, SampleOptions } from './video/sample.js';
export { Resizer, resizeShorter, shorterSide, cropOffset, crop, toUnitRange, flipHorizontal } from './video/transforms.js';
export type { CropMode, Window } from './video/transforms.js';
export { loadClip } from './video/clip.js';
export type { Clip, ClipOptions } from './video/clip.js';
export { frameCacheStats, clearFrameCache } from './video/frame-cache.js';
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
export { cachedFlow, flowCacheDir, flowCacheKey } from './video/flow-cache.js';
export type { FlowArray, FlowCacheSettings, CachedFlowOptions, CachedFlowResult } from './video/flow-cache.js';
export { framesToFlow, videoFlow, flowImplementation } from './video/flow-video.js';
export type { RgbFrame, FramesToFlowOptions, VideoFlowOptions, VideoFlow } from './video/flow-video.js';
export { writeVideo } from './video/encode.js';
export type { EncodeOptions } from './video/encode.js';

// data: labelled video folders, the batch generator, generated motion videos
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
export { syntheticFrames, writeSyntheticActions, SYNTHETIC_CLASSES } from './data/synthetic-actions.js';
export type { SyntheticOptions } from './data/synthetic-actions.js';

// inference: classification of clips and videos, the fused oneDNN engine, benchmarks
export { clipLogits, softmax, addLogits, topK, formatPrediction } from './inference/classify.js';
export type { TopClass, Prediction } from './inference/classify.js';
export { checkClip, readClipNpy, ClipError } from './inference/clip-input.js';
export { MemoryBudgetError } from './inference/memory-budget.js';
export type { I3DClip } from './inference/clip-input.js';
export { blockForIsa, bf16OnIsa, bf16Unsupported, cpuSupport } from './inference/cpu-support.js';
export type { CpuSupport } from './inference/cpu-support.js';
export { createEngine } from './inference/engine.js';
export type { InferenceEngine, EngineKind, EngineOptions } from './inference/engine.js';
export { FusedI3D } from './inference/i3d-plan.js';
export type { FusedI3DOptions } from './inference/i3d-plan.js';
export { i3dMacs, benchI3D } from './inference/i3d-bench.js';
export type { BenchOptions, BenchResult } from './inference/i3d-bench.js';
export { predict, loadClassifier, labelsFor, readRgbInput, readFlowInput, addStreams } from './inference/predict.js';
export type { PredictOptions, PredictResult, VideoInputOptions } from './inference/predict.js';
export type { WindowPrediction } from './inference/windows.js';

// features: I3D features of videos, cached
export { extractFeatures, readFeatures, readFeatureManifest, FEATURE_CACHE_FORMAT } from './features/extract.js';
export type { FeatureDataset, FeatureInput, ExtractOptions, FeatureEntry, FeatureManifest, ExtractResult } from './features/extract.js';

// train: I3D-LSTM training, checkpoints, evaluation, reports, the demo
export { validateParams, readParamsFile, defaultParamsYaml, TrainParamsSchema, DEFAULT_PARAMS, ParamsError } from './train/params.js';
export type { TrainParams } from './train/params.js';
export { learningRate } from './train/schedule.js';
export type { StepSchedule } from './train/schedule.js';
export { classificationMetrics, metricsFromConfusion } from './train/metrics.js';
export type { ClassificationMetrics } from './train/metrics.js';
export { saveCheckpoint, findCheckpoint, readCheckpointMeta, loadCheckpointInto } from './train/checkpoint.js';
export type { EpochRecord, TrainerState, CheckpointMeta } from './train/checkpoint.js';
export { fit, evaluateSplit, NonFiniteLossError } from './train/fit.js';
export type { LabelledBatch, DataSplit, TrainableModel, FitOptions, FitResult } from './train/fit.js';
export { featureSplit, CachedFeaturesHead } from './train/cached-training.js';
export type { FeatureSplitOptions } from './train/cached-training.js';
export { trainFromParams } from './train/run.js';
export type { TrainRunOptions, TrainRunResult } from './train/run.js';
export { describeModel, resolveModelDir, readTrainedDescription, loadTrainedModel } from './train/trained-model.js';
export { evaluateFolder, predictTrained } from './train/evaluate.js';
export type { EvaluateOptions, Evaluation, TrainedPredictOptions } from './train/evaluate.js';
export { writeReport, reportFromRun } from './train/report.js';
export type { ReportInput } from './train/report.js';
export { demoParams, runDemo } from './train/demo.js';
export type { DemoOptions, DemoResult } from './train/demo.js';

// distributed: process groups over PyTorch's c10d (Gloo on CPU, NCCL in CUDA builds), sharding, data parallelism
export { ProcessGroup, distConfig, isDistributedEnv, threadsPerRank, DEFAULT_DIST_TIMEOUT_SEC } from './distributed/index.js';
export { DistributedError, shardOrder, shardSize, broadcastModule, convertSyncBatchNorm, GradientSync } from './distributed/index.js';
export { DEFAULT_BUCKET_BYTES, DataParallel, launchLocal, freePort } from './distributed/index.js';
export type { ProcessGroupOptions, ReduceOp, DistConfig, Backend, DistributedErrorCode, Shard } from './distributed/index.js';
export type { DataParallelOptions, LaunchOptions } from './distributed/index.js';

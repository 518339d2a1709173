// Distributed training over PyTorch's c10d (Gloo on CPU, NCCL in CUDA builds): the public API.
export { ProcessGroup, type ProcessGroupOptions, type ReduceOp } from './process-group.js';
export { distConfig, isDistributedEnv, threadsPerRank, DEFAULT_DIST_TIMEOUT_SEC, type DistConfig, type Backend } from './config.js';
export { DistributedError, type DistributedErrorCode } from './errors.js';
export { shardOrder, shardSize, type Shard } from './sampler.js';
export { broadcastModule, convertSyncBatchNorm, GradientSync, DEFAULT_BUCKET_BYTES } from './ddp.js';
export { DataParallel, type DataParallelOptions } from './training.js';
export { launchLocal, freePort, type LaunchOptions } from './launch.js';

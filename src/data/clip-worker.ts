// A worker thread of a ClipPool (the batch generator's and the feature extractor's): loads clips (decode with ffmpeg
// + preprocess, or TV-L1 flow) with the source of the task's stream and sends them back, moving the buffer.
import { CLIP_SOURCES } from '../video/stream-clip.js';
import { serveClipTasks } from './clip-pool.js';

serveClipTasks(CLIP_SOURCES);

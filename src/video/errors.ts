// Errors of video input: every message names the file and the problem.
import { I3DError } from '../core/errors.js';

/** The problems, by their short names (as thrown in this layer); each is the code I3D_VIDEO_<problem>. */
export type VideoProblem =
  /** The file does not exist or cannot be opened. */
  | 'NOT_FOUND'
  /** The file has 0 bytes. */
  | 'EMPTY'
  /** ffmpeg cannot read it (not a video, unknown container or codec, corrupt). */
  | 'UNREADABLE'
  /** The file has no video stream (audio only, subtitles...). */
  | 'NO_VIDEO_STREAM'
  /** The video stream decodes to no frames. */
  | 'NO_FRAMES'
  /** The file was cut short: ffmpeg reports a partial file or a missing index. */
  | 'TRUNCATED'
  /** Width x height above the limit. */
  | 'TOO_LARGE'
  /** Frames smaller than the crop when resizing is off. */
  | 'TOO_SMALL'
  /** Duration above the limit. */
  | 'TOO_LONG'
  /** ffmpeg ran past the time limit and was killed. */
  | 'TIMEOUT'
  /** ffmpeg or ffprobe is not installed. */
  | 'NO_FFMPEG';

/** A VideoError's `code`: I3D_VIDEO_NOT_FOUND, I3D_VIDEO_EMPTY, ... (see the README's table of error codes). */
export type VideoErrorCode = `I3D_VIDEO_${VideoProblem}`;

export class VideoError extends I3DError {
  declare readonly code: VideoErrorCode;
  readonly file: string;

  /** `code` is the problem's short name ('EMPTY') or its full code ('I3D_VIDEO_EMPTY'). */
  constructor(code: VideoProblem | VideoErrorCode, file: string, problem: string) {
    super(code.startsWith('I3D_VIDEO_') ? (code as VideoErrorCode) : `I3D_VIDEO_${code as VideoProblem}`, `${file}: ${problem}`);
    this.name = 'VideoError';
    this.file = file;
  }
}

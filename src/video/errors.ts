// Errors of video input: every message names the file and the problem.

export type VideoErrorCode =
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

export class VideoError extends Error {
  readonly code: VideoErrorCode;
  readonly file: string;

  constructor(code: VideoErrorCode, file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'VideoError';
    this.code = code;
    this.file = file;
  }
}

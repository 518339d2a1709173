/** The two I3D input streams: RGB frames, or TV-L1 optical flow (x, y). */
export type Stream = 'rgb' | 'flow';

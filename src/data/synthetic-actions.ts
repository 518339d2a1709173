// A procedural action dataset for the demo and the tests: short videos in the seed's folder layout
// (root/<class>/<video>.avi) whose classes differ only in motion. Every video shows a bright disc over a
// darker textured background; the disc drifts left, right, up or down. Any single frame has the same distribution
// in every class (random textures, random position), so only the motion tells the class apart.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeVideo } from '../video/encode.js';
import { deriveSeed, mulberry32, type Rng } from '../core/rng.js';

export const SYNTHETIC_CLASSES = ['move_down', 'move_left', 'move_right', 'move_up'] as const;

const MOTION: Record<(typeof SYNTHETIC_CLASSES)[number], [number, number]> = {
  move_down: [0, 1],
  move_left: [-1, 0],
  move_right: [1, 0],
  move_up: [0, -1],
};

export interface SyntheticOptions {
  /** Videos per class. */
  perClass: number;
  /** Frame side in pixels (default 64). */
  size?: number;
  /** Frames per video (default 40, 1.6 s at 25 fps). */
  frames?: number;
  /** Pixels per frame (default 1.5). */
  speed?: number;
  seed?: number;
  /** Called after each video is written. */
  onVideo?: (done: number, total: number) => void;
}

/** A smooth random colour texture (w x h, RGB bytes): a few random blobs over a random base colour. */
function texture(rng: Rng, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  const base = [0, 1, 2].map(() => 20 + rng() * 90);
  const blobs = Array.from({ length: 6 }, () => ({
    x: rng() * w,
    y: rng() * h,
    r: 2 + rng() * (w / 4),
    c: [0, 1, 2].map(() => rng() * 255),
  }));
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const px = [...base];
      for (const b of blobs) {
        const d = Math.hypot(x - b.x, y - b.y);
        const a = Math.max(0, 1 - d / b.r);
        for (let c = 0; c < 3; c++) px[c] = px[c]! * (1 - a) + b.c[c]! * a;
      }
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = Math.round(px[c]! + (rng() - 0.5) * 24);
    }
  return out;
}

/**
 * The frames of one video: a bright disc (random colour and size, soft edge, drawn at sub-pixel positions) moving
 * by (dx, dy) * speed per frame over a darker static texture, wrapping around the frame.
 */
export function syntheticFrames(cls: (typeof SYNTHETIC_CLASSES)[number], seed: number, size = 64, frames = 40, speed = 1.5): Uint8Array[] {
  const rng = mulberry32(seed);
  const bg = texture(rng, size, size);
  const r = size * (0.12 + rng() * 0.08);
  const colour = [0, 1, 2].map(() => 170 + rng() * 85);
  const [dx, dy] = MOTION[cls];
  const x0 = rng() * size;
  const y0 = rng() * size;
  const out: Uint8Array[] = [];
  for (let t = 0; t < frames; t++) {
    const f = Uint8Array.from(bg);
    const cx = x0 + dx * speed * t;
    const cy = y0 + dy * speed * t;
    for (let y = 0; y < size; y++)
      for (let x = 0; x < size; x++) {
        // Distance on the torus, so the disc wraps around the edges.
        const ex = ((((x - cx) % size) + size * 1.5) % size) - size / 2;
        const ey = ((((y - cy) % size) + size * 1.5) % size) - size / 2;
        const a = Math.min(1, Math.max(0, r - Math.hypot(ex, ey) + 0.5));
        if (a > 0)
          for (let c = 0; c < 3; c++) f[(y * size + x) * 3 + c] = Math.round(f[(y * size + x) * 3 + c]! * (1 - a) + colour[c]! * a);
      }
    out.push(f);
  }
  return out;
}

/** Writes `perClass` videos of each class under root/<class>/; returns the classes. */
export async function writeSyntheticActions(root: string, o: SyntheticOptions): Promise<string[]> {
  const size = o.size ?? 64;
  const total = SYNTHETIC_CLASSES.length * o.perClass;
  let done = 0;
  const jobs: (() => Promise<void>)[] = [];
  for (const [ci, cls] of SYNTHETIC_CLASSES.entries()) {
    mkdirSync(join(root, cls), { recursive: true });
    for (let i = 0; i < o.perClass; i++)
      jobs.push(async () => {
        const frames = syntheticFrames(cls, deriveSeed(o.seed ?? 0, ci, i), size, o.frames ?? 40, o.speed ?? 1.5);
        await writeVideo(join(root, cls, `${cls}_${String(i).padStart(3, '0')}.avi`), frames, { width: size, height: size });
        o.onVideo?.(++done, total);
      });
  }
  // Two at a time: one video's frames are drawn here while ffmpeg encodes the other's.
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) await jobs[next++]!();
  };
  await Promise.all([lane(), lane()]);
  return [...SYNTHETIC_CLASSES];
}

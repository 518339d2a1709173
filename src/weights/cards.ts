// Model cards: one description of each named model of the zoo (the official I3D release), in one place: its
// weights file and where it comes from, its checksum where one is published, its classes and labels, and the
// preprocessing its numbers were measured with. The zoo (zoo.ts), model folders (model-folder.ts) and the CLI's
// help read these; nothing else restates them.
import type { Stream } from '../core/stream.js';
import { I3D_VARIANTS, type I3DVariant } from '../models/i3d.js';

/** How frames become a clip for a model: the official I3D preprocessing unless a model folder says otherwise. */
export interface Preprocessing {
  fps: number;
  resizeShorterSide: number;
  crop: number;
  /** Input values span this range (RGB scaled from [0, 255]; flow clipped to ±flowClip then scaled). */
  range: [number, number];
  /** Flow only: TV-L1 displacements clipped to ±flowClip pixels before scaling. */
  flowClip?: number;
}

/** The official I3D preprocessing (the whole video at 25 fps, shorter side 256, 224 centre crop, values in [-1, 1]). */
export function officialPreprocessing(stream: Stream): Preprocessing {
  return stream === 'rgb'
    ? { fps: 25, resizeShorterSide: 256, crop: 224, range: [-1, 1] }
    : { fps: 25, resizeShorterSide: 256, crop: 224, range: [-1, 1], flowClip: 20 };
}

export interface ModelCard {
  /** The zoo name (`rgb_imagenet_and_kinetics`, ..., each also `_no_top`). */
  name: string;
  kind: 'i3d';
  stream: Stream;
  pretraining: 'imagenet_and_kinetics' | 'kinetics_only';
  /** With the Kinetics-400 classifier (`classes` 400, labels `kinetics400`), or the trunk only (features). */
  includeTop: boolean;
  classes: 400 | null;
  labels: 'kinetics400' | null;
  preprocessing: Preprocessing;
  weights: {
    url: string;
    fileName: string;
    /** Pinned SHA-256 when the publisher gives one; else recorded at first download and verified after. */
    sha256?: string;
  };
  source: string;
  license: string;
}

const RELEASE = 'https://github.com/dlpbc/keras-kinetics-i3d/releases/download/v0.2/';
const SOURCE = "Keras port (dlpbc/keras-kinetics-i3d v0.2) of DeepMind's kinetics-i3d checkpoints";

function cards(): ModelCard[] {
  const out: ModelCard[] = [];
  for (const [variant, v] of Object.entries(I3D_VARIANTS) as [I3DVariant, (typeof I3D_VARIANTS)[I3DVariant]][]) {
    for (const includeTop of [true, false]) {
      const fileName = `${v.stream}_inception_i3d_${v.pretraining}_tf_dim_ordering_tf_kernels${includeTop ? '' : '_no_top'}.h5`;
      out.push({
        name: includeTop ? variant : `${variant}_no_top`,
        kind: 'i3d',
        stream: v.stream,
        pretraining: v.pretraining,
        includeTop,
        classes: includeTop ? 400 : null,
        labels: includeTop ? 'kinetics400' : null,
        preprocessing: officialPreprocessing(v.stream),
        weights: { url: RELEASE + fileName, fileName },
        source: SOURCE,
        license: 'Apache-2.0',
      });
    }
  }
  return out;
}

/** Every named model, by name. */
export const MODEL_CARDS: ReadonlyMap<string, ModelCard> = new Map(cards().map((c) => [c.name, c]));

/** The Kinetics-400 label map (400 lines), pinned by its SHA-256. */
export const KINETICS_400_LABELS = {
  name: 'kinetics400_labels',
  url: 'https://raw.githubusercontent.com/deepmind/kinetics-i3d/master/data/label_map.txt',
  fileName: 'kinetics400_label_map.txt',
  sha256: 'e9f2806fe9109b851a80a74841244f6f8c9d10917fa0229cd82bab67f2f8e28f',
} as const;

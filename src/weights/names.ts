// Our parameter names and the Keras port's weight names, and the kernel layout between them.
// Ours: '<...>.<Unit>.conv.weight' [out, in, kt, kh, kw]; Keras: '<Unit>_conv/kernel:0' (kt, kh, kw, in, out).
import { I3DError } from '../core/errors.js';

const SUFFIXES: Record<string, string> = {
  'conv.weight': '_conv/kernel:0',
  'conv.bias': '_conv/bias:0',
  'bn.beta': '_bn/beta:0',
  'bn.running_mean': '_bn/moving_mean:0',
  'bn.running_var': '_bn/moving_variance:0',
};

/** The Keras weight name of one of our I3D state tensors (e.g. 'Mixed_3b.Conv3d_3b_0a_1x1.bn.beta'). */
export function kerasName(ours: string): string {
  const parts = ours.split('.');
  const unit = parts[parts.length - 3];
  const suffix = SUFFIXES[parts.slice(-2).join('.')];
  if (!unit || !suffix) throw new I3DError('I3D_INTERNAL', `no Keras name for parameter '${ours}'`);
  return unit + suffix;
}

/** TensorFlow (Keras and checkpoints alike) stores conv kernels (kt, kh, kw, in, out); ours are (out, in, kt, kh, kw). */
export const TF_KERNEL_TO_OURS = [4, 3, 0, 1, 2] as const;

/** The TensorFlow shape (kt, kh, kw, in, out) of one of our kernels. */
export function tfKernelShape(ours: readonly number[]): number[] {
  const [o, i, t, h, w] = ours as [number, number, number, number, number];
  return [t, h, w, i, o];
}

export function isKernel(kerasWeight: string): boolean {
  return kerasWeight.endsWith('/kernel:0');
}

/** The shape a tensor of ours has in the Keras file. */
export function kerasShape(kerasWeight: string, ours: readonly number[]): number[] {
  return isKernel(kerasWeight) ? tfKernelShape(ours) : [...ours];
}

"""TensorFlow SAME padding for the PyTorch peers of bench/train and bench/inference, split as ours
(src/nn/functional.ts): the symmetric part inside the conv / pool, only the odd pixel by F.pad."""
import torch.nn.functional as F


def same_pads(size, k, s):
    """TensorFlow SAME split as ours (src/nn/functional.ts): symmetric part for the op, extra (F.pad order) or None."""
    sym, extra = [], []
    size = [int(n) for n in size]  # plain ints: constants when traced for an ONNX export (the shape is fixed)
    for n, kk, ss in zip(size, k, s):
        total = max((-(-n // ss) - 1) * ss + kk - n, 0)
        before, after = total // 2, total - total // 2
        m = min(before, after)
        sym.append(m)
        extra.append((before - m, after - m))
    (tb, ta), (hb, ha), (wb, wa) = extra
    pads = (wb, wa, hb, ha, tb, ta)
    return sym, (pads if any(pads) else None)


def max_pool_same(x, k, s):
    sym, extra = same_pads(x.shape[2:], k, s)
    if extra:
        x = F.pad(x, extra, value=float("-inf"))
    return F.max_pool3d(x, k, s, sym)

#!/usr/bin/python3
"""PyTorch eager peer for bench/inference: I3D RGB inference of one clip, and the ONNX export for onnxruntime.

The model is ours (src/models/i3d.ts), rebuilt in PyTorch with the official I3D's numerics (as
bench/peers/train_step_torch.py): TensorFlow SAME padding (odd pixel after), convolutions without bias, batch norm
without scale (eps 1e-3), max pools padding with -inf, AvgPool (2, 7, 7) 'VALID' (kernel clipped to the map), the
1x1x1 logits convolution with bias, then the mean over what remains. Same padding split as ours: the symmetric part
inside the conv / pool, only the odd pixel by F.pad. The modules carry our parameter names
('Mixed_3b.Conv3d_3b_1b_3x3.conv.weight', '....bn.beta', '....bn.running_mean', 'Conv3d_6a_1x1.conv.bias', ...), so
our model.safetensors loads with load_state_dict(strict=True): every name and shape must match.

argv[1]: JSON {"mode": "time" | "export", "model": "<dir with model.safetensors>", "clip": "<.npy [1, T, H, W, 3]>",
               "threads", "runs", "warmup", "onnx": "<path to write>" (export)}
  time: eval mode, torch.no_grad(), input the NCDHW-contiguous copy of the clip (made before timing); `warmup`
        forwards, then `runs` timed ones. Prints JSON {"torch", "threads", "times" (ms), "logits", "maxRssKiB"}.
  export: torch.onnx.export of the same model at the clip's shape (input 'clip' [1, 3, T, H, W] float32, output
        'logits' [1, classes]), opset 17 (the newest torch 1.13 writes). Prints JSON {"torch", "opset", "logits"}.
"""
import json
import resource
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])

LAYOUT = [
    ("unit", "Conv3d_1a_7x7", 64, 7, 2),
    ("pool", (1, 3, 3), (1, 2, 2)),
    ("unit", "Conv3d_2b_1x1", 64, 1, 1),
    ("unit", "Conv3d_2c_3x3", 192, 3, 1),
    ("pool", (1, 3, 3), (1, 2, 2)),
    ("mixed", "Mixed_3b", [64, 96, 128, 16, 32, 32]),
    ("mixed", "Mixed_3c", [128, 128, 192, 32, 96, 64]),
    ("pool", (3, 3, 3), (2, 2, 2)),
    ("mixed", "Mixed_4b", [192, 96, 208, 16, 48, 64]),
    ("mixed", "Mixed_4c", [160, 112, 224, 24, 64, 64]),
    ("mixed", "Mixed_4d", [128, 128, 256, 24, 64, 64]),
    ("mixed", "Mixed_4e", [112, 144, 288, 32, 64, 64]),
    ("mixed", "Mixed_4f", [256, 160, 320, 32, 128, 128]),
    ("pool", (2, 2, 2), (2, 2, 2)),
    ("mixed", "Mixed_5b", [256, 160, 320, 32, 128, 128]),
    ("mixed", "Mixed_5c", [384, 192, 384, 48, 128, 128]),
]


from tf_same import max_pool_same, same_pads  # noqa: E402  (TF-SAME padding, shared with bench/train's peer)


class Conv(nn.Module):
    def __init__(self, cin, cout, k, bias=False):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin, k, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None


class BN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))


class Unit3d(nn.Module):
    """Conv3D (no bias) -> BatchNorm (no scale, eps 1e-3) -> ReLU, TF-SAME padding."""

    def __init__(self, cin, cout, k, s=1):
        super().__init__()
        self.k, self.s = (k,) * 3, (s,) * 3
        self.conv = Conv(cin, cout, k)
        self.bn = BN(cout)

    def forward(self, x):
        sym, extra = same_pads(x.shape[2:], self.k, self.s)
        if extra:
            x = F.pad(x, extra)
        x = F.conv3d(x, self.conv.weight, None, self.s, sym)
        x = F.batch_norm(x, self.bn.running_mean, self.bn.running_var, None, self.bn.beta, False, 0.01, 1e-3)
        return F.relu(x)


class Inception(nn.Module):
    def __init__(self, name, cin, s):
        super().__init__()
        i = name.replace("Mixed_", "")
        self.names = [f"Conv3d_{i}_{n}" for n in ("0a_1x1", "1a_1x1", "1b_3x3", "2a_1x1", "2b_3x3", "3b_1x1")]
        specs = [(cin, s[0], 1), (cin, s[1], 1), (s[1], s[2], 3), (cin, s[3], 1), (s[3], s[4], 3), (cin, s[5], 1)]
        for n, (a, b, k) in zip(self.names, specs):
            self.add_module(n, Unit3d(a, b, k))
        self.out = s[0] + s[2] + s[4] + s[5]

    def forward(self, x):
        u = [getattr(self, n) for n in self.names]
        pooled = max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([u[0](x), u[2](u[1](x)), u[4](u[3](x)), u[5](pooled)], 1)


class I3D(nn.Module):
    def __init__(self, classes, in_ch=3):
        super().__init__()
        self.steps = []
        c = in_ch
        for layer in LAYOUT:
            if layer[0] == "unit":
                _, name, out, k, s = layer
                self.add_module(name, Unit3d(c, out, k, s))
                self.steps.append(getattr(self, name))
                c = out
            elif layer[0] == "pool":
                _, k, s = layer
                self.steps.append(lambda x, k=k, s=s: max_pool_same(x, k, s))
            else:
                _, name, spec = layer
                self.add_module(name, Inception(name, c, spec))
                self.steps.append(getattr(self, name))
                c = getattr(self, name).out
        self.add_module("Conv3d_6a_1x1", nn.Module())
        self.Conv3d_6a_1x1.conv = Conv(c, classes, 1, bias=True)

    def forward(self, x):
        """x [N, 3, T, H, W] -> logits [N, classes]."""
        for step in self.steps:
            x = step(x)
        t, h, w = (int(n) for n in x.shape[2:])
        x = F.avg_pool3d(x, (min(2, t), min(7, h), min(7, w)), 1)
        head = self.Conv3d_6a_1x1.conv
        return F.conv3d(x, head.weight, head.bias).mean((2, 3, 4))


def read_safetensors(path):
    """{name: float32 array} from a safetensors file (8-byte LE header length, JSON header, raw LE data)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {info['dtype']}, expected F32")
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(raw, "<f4", (e - b) // 4, 8 + n + b).reshape(info["shape"]).copy()
    return out


state = read_safetensors(f"{cfg['model']}/model.safetensors")
classes = state["Conv3d_6a_1x1.conv.bias"].shape[0]
model = I3D(classes)
model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
model.eval()
clip = np.load(cfg["clip"])  # [1, T, H, W, 3]
x = torch.from_numpy(np.ascontiguousarray(clip.astype(np.float32))).permute(0, 4, 1, 2, 3).contiguous()

if cfg["mode"] == "export":
    opset = 17
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings: the padding is computed from the (fixed) input shape
        logits = model(x)
        torch.onnx.export(
            model,
            (x,),
            cfg["onnx"],
            input_names=["clip"],
            output_names=["logits"],
            opset_version=opset,
            do_constant_folding=True,
        )
    print(json.dumps({"torch": torch.__version__, "opset": opset, "logits": logits[0].tolist()}))
elif cfg["mode"] == "time":
    times = []
    logits = None
    with torch.no_grad():
        for i in range(cfg["warmup"] + cfg["runs"]):
            t0 = time.perf_counter()
            logits = model(x)
            ms = (time.perf_counter() - t0) * 1000
            timed = i >= cfg["warmup"]
            if timed:
                times.append(ms)
            what = f"run {i - cfg['warmup'] + 1}" if timed else f"warm-up {i + 1}"
            print(f"[PyTorch eager] {what}: {ms:.0f} ms", file=sys.stderr, flush=True)
    print(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "times": times,
                "logits": logits[0].tolist(),
                "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )
else:
    sys.exit(f"unknown mode {cfg['mode']}")

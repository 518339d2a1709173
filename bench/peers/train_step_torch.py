#!/usr/bin/python3
"""PyTorch eager peer for bench/train: times one training step of I3D-LSTM (full fine-tuning) in PyTorch.

The model is ours, rebuilt in PyTorch with the numerics of test/fixtures/make_i3d.py (the official I3D):
TensorFlow SAME padding (odd pixel after), convolutions without bias, batch norm without scale (eps 1e-3,
momentum 0.01 = Keras' 0.99), max pools padding with -inf; then, as src/models/i3d-lstm.ts, the mean of Mixed_5c
over T, H, W per segment, LSTM(1024, 512) returning sequences, LSTM(512, 256), its last step, dropout 0.5,
Linear(256, classes). Same padding as ours: the symmetric part inside the conv / pool, only the odd pixel by
F.pad (make_i3d.py pads everything with F.pad first: same numbers, one more copy per layer).

A step: zero_grad(set_to_none), forward (train mode), cross-entropy, backward, SGD step (momentum 0.9).

argv[1]: JSON {"threads", "runs", "warmup", "batch", "segments", "frames", "size", "classes",
               "format": "contiguous" | "channels_last_3d"}
  contiguous: weights and input NCDHW-contiguous (the input is copied from [B, S, T, H, W, C] in the step);
  channels_last_3d: model.to(memory_format=torch.channels_last_3d), input the [N, C, T, H, W] view of the
  channels-last clips (no copy), as ours.
Prints JSON {"torch", "threads", "format", "params", "ms", "forwardMs", "backwardMs", "stepMs", "steps",
             "loss", "maxRssKiB"}: ms is the median of `runs` timed steps after `warmup` steps, the phase times
the medians of each phase over the same steps; steps: [total, forward + loss, backward, SGD step] ms per timed step.
"""
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from tf_same import max_pool_same, same_pads

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
CL = cfg["format"] == "channels_last_3d"
if cfg["format"] not in ("contiguous", "channels_last_3d"):
    sys.exit(f"unknown format {cfg['format']}")

MIXED = [
    ("3b", [64, 96, 128, 16, 32, 32]), ("3c", [128, 128, 192, 32, 96, 64]),
    ("4b", [192, 96, 208, 16, 48, 64]), ("4c", [160, 112, 224, 24, 64, 64]), ("4d", [128, 128, 256, 24, 64, 64]),
    ("4e", [112, 144, 288, 32, 64, 64]), ("4f", [256, 160, 320, 32, 128, 128]),
    ("5b", [256, 160, 320, 32, 128, 128]), ("5c", [384, 192, 384, 48, 128, 128]),
]


class Unit3d(nn.Module):
    """Conv3D (no bias) -> BatchNorm (no scale, eps 1e-3) -> ReLU, TF-SAME padding."""

    def __init__(self, cin, cout, k, s=1):
        super().__init__()
        self.k, self.s = (k,) * 3, (s,) * 3
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k, k) * (2 / (cin * k ** 3)) ** 0.5)
        self.beta = nn.Parameter(torch.zeros(cout))
        self.register_buffer("running_mean", torch.zeros(cout))
        self.register_buffer("running_var", torch.ones(cout))

    def forward(self, x):
        sym, extra = same_pads(x.shape[2:], self.k, self.s)
        if extra:
            x = F.pad(x, extra)
        x = F.conv3d(x, self.weight, None, self.s, sym)
        x = F.batch_norm(x, self.running_mean, self.running_var, None, self.beta, self.training, 0.01, 1e-3)
        return F.relu(x)


class Inception(nn.Module):
    def __init__(self, cin, s):
        super().__init__()
        self.b0 = Unit3d(cin, s[0], 1)
        self.b1 = nn.Sequential(Unit3d(cin, s[1], 1), Unit3d(s[1], s[2], 3))
        self.b2 = nn.Sequential(Unit3d(cin, s[3], 1), Unit3d(s[3], s[4], 3))
        self.b3 = Unit3d(cin, s[5], 1)
        self.out = s[0] + s[2] + s[4] + s[5]

    def forward(self, x):
        pooled = max_pool_same(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(pooled)], 1)


class I3DNoTop(nn.Module):
    def __init__(self, in_ch=3):
        super().__init__()
        self.c1a = Unit3d(in_ch, 64, 7, 2)
        self.c2b = Unit3d(64, 64, 1)
        self.c2c = Unit3d(64, 192, 3)
        c = 192
        self.mixed = nn.ModuleList()
        for _, spec in MIXED:
            self.mixed.append(Inception(c, spec))
            c = self.mixed[-1].out
        self.channels = c

    def forward(self, x):
        x = self.c1a(x)
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        x = self.c2c(self.c2b(x))
        x = max_pool_same(x, (1, 3, 3), (1, 2, 2))
        for (mid, _), block in zip(MIXED, self.mixed):
            if mid == "4b":
                x = max_pool_same(x, (3, 3, 3), (2, 2, 2))
            if mid == "5b":
                x = max_pool_same(x, (2, 2, 2), (2, 2, 2))
            x = block(x)
        return x.mean((2, 3, 4))


class I3DLSTM(nn.Module):
    def __init__(self, classes, dropout=0.5):
        super().__init__()
        self.backbone = I3DNoTop()
        self.lstm1 = nn.LSTM(self.backbone.channels, 512, batch_first=True)
        self.lstm2 = nn.LSTM(512, 256, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(256, classes)

    def forward(self, clips):
        """clips [B, S, T, H, W, C] -> logits [B, classes]."""
        b, s = clips.shape[:2]
        x = clips.reshape(b * s, *clips.shape[2:]).permute(0, 4, 1, 2, 3)  # [N, C, T, H, W], channels-last view
        x = x.contiguous(memory_format=torch.channels_last_3d if CL else torch.contiguous_format)
        feats = self.backbone(x).reshape(b, s, -1)
        seq, _ = self.lstm1(feats)
        out, _ = self.lstm2(seq)
        return self.dense(self.dropout(out[:, -1]))


model = I3DLSTM(cfg["classes"])
if CL:
    model = model.to(memory_format=torch.channels_last_3d)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, foreach=True)
clips = torch.randn(cfg["batch"], cfg["segments"], cfg["frames"], cfg["size"], cfg["size"], 3)
labels = torch.tensor([(7 * i + 3) % cfg["classes"] for i in range(cfg["batch"])])


def step():
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(clips), labels)
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    opt.step()
    value = loss.item()
    del loss
    t3 = time.perf_counter()
    return [(t3 - t0) * 1000, (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000], value


for i in range(cfg["warmup"]):
    ms, _ = step()
    print(f"[torch {cfg['format']}] warm-up {i + 1}: {ms[0]:.0f} ms", file=sys.stderr, flush=True)
runs = []
loss = float("nan")
for i in range(cfg["runs"]):
    ms, loss = step()
    runs.append(ms)
    print(f"[torch {cfg['format']}] step {i + 1}: {ms[0]:.0f} ms", file=sys.stderr, flush=True)
med = lambda k: statistics.median(r[k] for r in runs)
print(
    json.dumps(
        {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "format": cfg["format"],
            "params": sum(p.numel() for p in model.parameters()),
            "ms": med(0),
            "forwardMs": med(1),
            "backwardMs": med(2),
            "stepMs": med(3),
            "steps": runs,
            "loss": loss,
            "maxRssKiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
    )
)

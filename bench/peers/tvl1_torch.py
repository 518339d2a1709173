#!/usr/bin/python3
"""The libtorch-ops alternative for bench/flow: TV-L1 written with tensor ops (PyTorch eager, i.e. the same libtorch
ops our addon binds), following OpenCV's DualTVL1OpticalFlow (tvl1flow.cpp: pyramid by bilinear resize, warps,
outer iterations with a median filter, inner primal-dual iterations stopped by the same epsilon test). It runs on a
GPU unchanged (device argument); here it is a prototype to measure whether the approach is competitive.

argv[1]: JSON {"threads": n, "size": s, "device": "cpu"}; stdin: uint8 gray frames (k, s, s).
Prints JSON {"torch": version, "ms": ms per pair, "cpuMs": CPU ms per pair, "epe": mean endpoint error against cv2 per pair (if cv2 imports)}.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
dev = torch.device(cfg.get("device", "cpu"))
size = cfg["size"]
P = dict(tau=0.25, lam=0.15, theta=0.3, scales=5, warps=5, eps=0.01, inner=30, outer=10, step=0.8, median=5)


def resize(x, h, w):
    return F.interpolate(x[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]


def centered_grad(x):
    gx = torch.zeros_like(x)
    gy = torch.zeros_like(x)
    gx[:, 1:-1] = 0.5 * (x[:, 2:] - x[:, :-2])
    gy[1:-1, :] = 0.5 * (x[2:, :] - x[:-2, :])
    return gx, gy


def fwd_grad(u):
    ux = torch.zeros_like(u)
    uy = torch.zeros_like(u)
    ux[:, :-1] = u[:, 1:] - u[:, :-1]
    uy[:-1, :] = u[1:, :] - u[:-1, :]
    return ux, uy


def divergence(px, py):
    d = px.clone()
    d[:, 1:] -= px[:, :-1]
    d[1:, :] += py[1:, :] - py[:-1, :]
    d[0, :] += py[0, :]
    return d


def median(u, k):
    pad = k // 2
    x = F.pad(u[None, None], (pad, pad, pad, pad), mode="replicate")
    return x.unfold(2, k, 1).unfold(3, k, 1).reshape(u.shape[0], u.shape[1], k * k).median(dim=-1).values


def remap(imgs, u1, u2):
    h, w = u1.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=dev, dtype=u1.dtype), torch.arange(w, device=dev, dtype=u1.dtype), indexing="ij")
    gx = (xs + u1) / (w - 1) * 2 - 1
    gy = (ys + u2) / (h - 1) * 2 - 1
    grid = torch.stack([gx, gy], -1)[None]
    out = F.grid_sample(torch.stack(imgs)[None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0]
    return list(out)


def one_scale(I0, I1, u1, u2):
    lt = P["lam"] * P["theta"]
    taut = P["tau"] / P["theta"]
    scaled_eps = P["eps"] ** 2 * I0.numel()
    I1x, I1y = centered_grad(I1)
    p11, p12, p21, p22 = (torch.zeros_like(I0) for _ in range(4))
    for _ in range(P["warps"]):
        I1w, I1wx, I1wy = remap([I1, I1x, I1y], u1, u2)
        grad = I1wx * I1wx + I1wy * I1wy
        rho_c = I1w - I1wx * u1 - I1wy * u2 - I0
        error = float("inf")
        n_outer = 0
        while error > scaled_eps and n_outer < P["outer"]:
            n_outer += 1
            if P["median"] > 1:
                u1, u2 = median(u1, P["median"]), median(u2, P["median"])
            n_inner = 0
            while error > scaled_eps and n_inner < P["inner"]:
                n_inner += 1
                rho = rho_c + I1wx * u1 + I1wy * u2
                safe = torch.where(grad > 1e-10, grad, torch.ones_like(grad))
                d = torch.where(grad > 1e-10, -rho / safe, torch.zeros_like(rho))
                d = torch.where(rho < -lt * grad, torch.full_like(rho, lt), d)
                d = torch.where(rho > lt * grad, torch.full_like(rho, -lt), d)
                v1 = u1 + d * I1wx
                v2 = u2 + d * I1wy
                n1 = v1 + P["theta"] * divergence(p11, p12)
                n2 = v2 + P["theta"] * divergence(p21, p22)
                error = float(((n1 - u1) ** 2 + (n2 - u2) ** 2).sum())  # the stopping test syncs once per iteration
                u1, u2 = n1, n2
                u1x, u1y = fwd_grad(u1)
                u2x, u2y = fwd_grad(u2)
                ng1 = 1 + taut * torch.sqrt(u1x * u1x + u1y * u1y)
                ng2 = 1 + taut * torch.sqrt(u2x * u2x + u2y * u2y)
                p11, p12 = (p11 + taut * u1x) / ng1, (p12 + taut * u1y) / ng1
                p21, p22 = (p21 + taut * u2x) / ng2, (p22 + taut * u2y) / ng2
    return u1, u2


def tvl1(a, b):
    I0s, I1s = [a], [b]
    for _ in range(1, P["scales"]):
        h, w = round(I0s[-1].shape[0] * P["step"]), round(I0s[-1].shape[1] * P["step"])
        if h < 16 or w < 16:
            break
        I0s.append(resize(I0s[-1], h, w))
        I1s.append(resize(I1s[-1], h, w))
    u1 = torch.zeros_like(I0s[-1])
    u2 = torch.zeros_like(I0s[-1])
    for s in range(len(I0s) - 1, -1, -1):
        u1, u2 = one_scale(I0s[s], I1s[s], u1, u2)
        if s > 0:
            h, w = I0s[s - 1].shape
            u1 = resize(u1, h, w) / P["step"]
            u2 = resize(u2, h, w) / P["step"]
    return torch.stack([u1, u2], -1)


frames = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(-1, size, size)
ts = [torch.from_numpy(f.astype(np.float32)).to(dev) for f in frames]
with torch.no_grad():
    tvl1(ts[0], ts[1])  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    flows = [tvl1(ts[i], ts[i + 1]).cpu().numpy() for i in range(len(ts) - 1)]
    ms = (time.perf_counter() - t0) / (len(ts) - 1) * 1000
    cpu_ms = (time.process_time() - c0) / (len(ts) - 1) * 1000
out = {"torch": torch.__version__, "ms": ms, "cpuMs": cpu_ms}
try:
    import cv2

    tv = cv2.optflow.DualTVL1OpticalFlow_create()
    out["epe"] = [float(np.linalg.norm(flows[i] - tv.calc(frames[i], frames[i + 1], None), axis=-1).mean()) for i in range(len(flows))]
except ImportError:
    pass
print(json.dumps(out))

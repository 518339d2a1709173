#!/usr/bin/python3
"""PyTorch eager peer for bench/conv3d: times torch.nn.functional.conv3d on the shapes given as JSON.

argv[1]: JSON {"threads": n, "repeats": r, "cases": [{"name", "x": [N,C,T,H,W], "w": [O,C,kt,kh,kw], "stride", "padding", "dtype"}]}
Prints JSON {"torch": version, "results": [{"name", "dtype", "ms"}]} (median of r runs after warm-up).
"""
import json
import statistics
import sys
import time

import torch

cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
torch.manual_seed(0)
out = []
with torch.no_grad():
    for c in cfg["cases"]:
        dt = torch.bfloat16 if c["dtype"] == "bfloat16" else torch.float32
        x = torch.randn(*c["x"]).to(dt)
        w = torch.randn(*c["w"]).to(dt)
        f = lambda: torch.nn.functional.conv3d(x, w, None, c["stride"], c["padding"])
        for _ in range(2):
            f()
        times = []
        for _ in range(cfg["repeats"]):
            t0 = time.perf_counter()
            f()
            times.append((time.perf_counter() - t0) * 1000)
        out.append({"name": c["name"], "dtype": c["dtype"], "ms": statistics.median(times)})
print(json.dumps({"torch": torch.__version__, "results": out}))

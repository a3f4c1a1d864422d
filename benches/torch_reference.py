#!/usr/bin/env python3
"""The `skelcam bench` cases in PyTorch, and a driver that runs both and prints one JSON line per case.

    python3 -m venv .venv && .venv/bin/pip install torch torchvision      # several GB; never needed by tests/CI
    cargo build --release
    .venv/bin/python benches/torch_reference.py [--cases stgcn_train,resnet18_train_112] [--iters 3] [--rounds 5]

Each line: {"case", "skelcam_per_sec", "torch_per_sec", "ratio" (skelcam / PyTorch), "skelcam_gflops",
"skelcam_peak_rss_mib", "torch_peak_rss_mib"}. With --rounds N > 1 each side runs N times per case, in turn,
starting with the other side every second round; the line gives medians (peak RSS: the largest) and adds
"round_ratios", so a slow phase of a shared host moves one round instead of the figure. Same architectures,
shapes, batch (16) and thread count (2) as `skelcam bench`; every case runs in its own process (PyTorch) or
invocation (skelcam) so peak RSS is per case.
Architectures: ST-GCN as the official net/st_gcn.py (10 blocks 64..256, spatial partition of the NTU-25 graph
read from data/layouts/ntu25.json, learnable edge importance, 9x1 temporal conv, dropout 0.5, 60 classes) and
torchvision's resnet18(num_classes=2). Train step = forward + cross-entropy + backward + SGD(momentum 0.9,
weight decay 1e-4) step; inference + CAM = eval forward to the last features, logits, and the class map of the
predicted class."""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from statistics import median
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = {
    "stgcn_train": ("stgcn", True, dict(frames=64, persons=1)),
    "stgcn_infer_cam": ("stgcn", False, dict(frames=64, persons=1)),
    "stgcn_train_T300_M2": ("stgcn", True, dict(frames=300, persons=2)),
    "resnet18_train_112": ("resnet", True, dict(size=112)),
    "resnet18_train_224": ("resnet", True, dict(size=224)),
    "resnet18_infer_cam_224": ("resnet", False, dict(size=224)),
}


def spatial_adjacency(layout_path):
    """ST-GCN's spatial partition (root, centrifugal, centripetal), normalised by in-degree, max hop 1."""
    import torch

    layout = json.loads(Path(layout_path).read_text())
    v, center = len(layout["joints"]), layout["center"]
    inf = float("inf")
    hop = [[inf] * v for _ in range(v)]
    adj = [[0] * v for _ in range(v)]
    for i in range(v):
        adj[i][i] = 1
    for a, b in layout["edges"]:
        adj[a][b] = adj[b][a] = 1
    # hop distances by BFS
    for s in range(v):
        hop[s][s] = 0
        frontier = [s]
        while frontier:
            nxt = []
            for u in frontier:
                for w in range(v):
                    if adj[u][w] and hop[s][w] == inf:
                        hop[s][w] = hop[s][u] + 1
                        nxt.append(w)
            frontier = nxt
    within = [[1.0 if hop[j][i] <= 1 else 0.0 for i in range(v)] for j in range(v)]
    deg = [sum(within[j][i] for j in range(v)) for i in range(v)]
    a = torch.zeros(3, v, v)
    for j in range(v):
        for i in range(v):
            if not within[j][i]:
                continue
            w = 1.0 / deg[i]
            if hop[j][center] == hop[i][center]:
                a[0, j, i] = w
            elif hop[j][center] > hop[i][center]:
                a[1, j, i] = w
            else:
                a[2, j, i] = w
    return a


def build_stgcn(num_class=60, in_channels=3):
    import torch
    import torch.nn as nn

    A = spatial_adjacency(ROOT / "data" / "layouts" / "ntu25.json")
    K, V = A.shape[0], A.shape[1]

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, residual, dropout):
            super().__init__()
            self.gcn = nn.Conv2d(cin, cout * K, 1)
            self.tcn = nn.Sequential(
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, (9, 1), (stride, 1), (4, 0)),
                nn.BatchNorm2d(cout), nn.Dropout(dropout, inplace=True))
            if not residual:
                self.res = None
            elif cin == cout and stride == 1:
                self.res = nn.Identity()
            else:
                self.res = nn.Sequential(nn.Conv2d(cin, cout, 1, (stride, 1)), nn.BatchNorm2d(cout))
            self.importance = nn.Parameter(torch.ones(K, V, V))
            self.cout = cout

        def forward(self, x):
            res = 0 if self.res is None else self.res(x)
            n, _, t, v = x.shape
            y = self.gcn(x).view(n, K, self.cout, t, v)
            y = torch.einsum("nkctv,kvw->nctw", y, A * self.importance)
            return torch.relu(self.tcn(y) + res)

    class Stgcn(nn.Module):
        def __init__(self):
            super().__init__()
            self.data_bn = nn.BatchNorm1d(in_channels * V)
            spec = [(in_channels, 64, 1, False, 0.0), (64, 64, 1, True, 0.5), (64, 64, 1, True, 0.5),
                    (64, 64, 1, True, 0.5), (64, 128, 2, True, 0.5), (128, 128, 1, True, 0.5),
                    (128, 128, 1, True, 0.5), (128, 256, 2, True, 0.5), (256, 256, 1, True, 0.5),
                    (256, 256, 1, True, 0.5)]
            self.blocks = nn.ModuleList(Block(*s) for s in spec)
            self.fc = nn.Conv2d(256, num_class, 1)

        def features(self, x):  # x: (N, C, T, V, M)
            n, c, t, v, m = x.shape
            x = x.permute(0, 4, 3, 1, 2).contiguous().view(n * m, v * c, t)
            x = self.data_bn(x).view(n, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous().view(n * m, c, t, v)
            for b in self.blocks:
                x = b(x)
            return x.view(n, m, *x.shape[1:]).permute(0, 2, 3, 4, 1)  # (N, C', T', V, M)

        def head(self, f):
            return self.fc(f.mean(dim=(2, 3, 4))[:, :, None, None]).flatten(1)

        def forward(self, x):
            return self.head(self.features(x))

    return Stgcn(), (lambda n, frames, persons: torch.randn(n, in_channels, frames, V, persons)), num_class


def build_resnet():
    import torch
    import torchvision

    net = torchvision.models.resnet18(num_classes=2)

    def features(x):
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return net.layer4(net.layer3(net.layer2(net.layer1(x))))

    net.features = features
    net.head = lambda f: net.fc(f.mean(dim=(2, 3)))
    return net, (lambda n, size: torch.randn(n, 3, size, size)), 2


def worker(case, batch, iters, threads):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    kind, train, shape = CASES[case]
    net, make_input, classes = build_stgcn() if kind == "stgcn" else build_resnet()
    x = make_input(batch, **shape)
    y = torch.arange(batch) % classes
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    w = net.fc.weight.reshape(classes, -1)

    def step():
        if train:
            net.train()
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        else:
            net.eval()
            with torch.no_grad():
                f = net.features(x)
                cls = net.head(f).argmax(1)
                cam = torch.einsum("nc,nc...->n...", w[cls], f)
                assert cam.shape[0] == batch

    long = shape.get("frames", 0) > 100
    if not long:
        step()
    n = max(1, min(iters, 2)) if long else iters
    start = time.perf_counter()
    for _ in range(n):
        step()
    per_sec = n * batch / (time.perf_counter() - start)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"case": case, "torch_per_sec": per_sec, "torch_peak_rss_mib": rss}))


def run_json(cmd, env=None):
    """The JSON lines a command prints; None (and its stderr shown) when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not rows:
        print(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}", file=sys.stderr, flush=True)
        return None
    return rows


def describe_machine(threads):
    """One line on stderr: CPU model, CPUs this process may use, PyTorch version and its thread count."""
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), "unknown CPU")
    probe = "import torch; torch.set_num_threads(%d); print(torch.__version__, torch.get_num_threads())" % threads
    torch = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
    print(f"# {model}; CPUs allowed {sorted(os.sched_getaffinity(0))}; torch {torch}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--skelcam", default=str(ROOT / "target" / "release" / "skelcam"))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1,
                    help="runs of each side per case, alternating which goes first; the line gives medians")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.batch, a.iters, a.threads)
    env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads), SKELCAM_QUIET="1")
    cases = a.cases.split(",")
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"unknown case {', '.join(unknown)}; cases: {', '.join(CASES)}")
    describe_machine(a.threads)
    failed = 0
    for case in cases:
        ours_cmd = [a.skelcam, "bench", "--json", "--cases", case, "--batch", str(a.batch), "--iters", str(a.iters)]
        ref_cmd = [sys.executable, __file__, "--worker", case, "--batch", str(a.batch), "--iters", str(a.iters),
                   "--threads", str(a.threads)]
        rounds = []
        for r in range(a.rounds):
            # Odd rounds start with PyTorch, so a slow phase of the host does not always fall on one side.
            if r % 2 == 0:
                ours, ref = run_json(ours_cmd, env), run_json(ref_cmd, env)
            else:
                ref, ours = run_json(ref_cmd, env), run_json(ours_cmd, env)
            if ours is None or ref is None:
                break
            rounds.append((ours[0], ref[0]))
        if len(rounds) < a.rounds:
            failed += 1
            continue
        ratios = [o["samples_per_sec"] / t["torch_per_sec"] for o, t in rounds]
        row = {
            "case": case,
            "skelcam_per_sec": round(median([o["samples_per_sec"] for o, _ in rounds]), 3),
            "torch_per_sec": round(median([t["torch_per_sec"] for _, t in rounds]), 3),
            "ratio": round(median(ratios), 3),
            "skelcam_gflops": round(median([o["gflops"] for o, _ in rounds]), 1),
            "skelcam_peak_rss_mib": max(o["peak_rss_mib"] for o, _ in rounds),
            "torch_peak_rss_mib": round(max(t["torch_peak_rss_mib"] for _, t in rounds), 1),
        }
        if a.rounds > 1:
            row["rounds"] = a.rounds
            row["round_ratios"] = [round(x, 3) for x in ratios]
        print(json.dumps(row), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

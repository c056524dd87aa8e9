#!/usr/bin/env python3
"""The PyTorch side of scoregeo's peer benchmark (run by `cargo run --release --example peer_bench`).

Needs torch (CPU use); CI never runs it. Two subcommands:

    peer.py make  --dir DIR [--seed S]
        writes DIR/fcn.pth, the reference fully connected score net of the official
        intrinsic-dimension code (Sequential `mlp`: Linear(D+1→H), Dropout, ELU,
        3 × [Linear(H→H), Dropout, ELU], Linear(H→D); D = 100, H = 512) with PyTorch's default
        initialisation under seed S, as a bare state dict; DIR/fcn.pth.json, the description
        scoregeo reads beside it (VE SDE, sigma_min 0.01, sigma_max 4, time fed as 999·t, noise
        prediction); and DIR/check.json, 64 inputs with the scores PyTorch computes for them, so
        the Rust side can confirm it evaluates the same network.

    peer.py bench --dir DIR [--points N] [--train-steps S]
        times, on the weights in DIR, what the Rust side times, and prints one JSON object:
        - normal bundle as the reference code does it: a plain loop over N points, one batch of
          K = 400 perturbed samples per point, the network's scores, torch.linalg.svdvals;
        - the score Jacobian of every point (torch.func.vmap of torch.func.jacrev) and its
          singular values, per point;
        - FLIPD with the Hutchinson trace over 8 Rademacher probes (vector-Jacobian products),
          per point;
        - DSM training steps/s of scoregeo's default architecture (D = 100, width 256, depth 4,
          residual SiLU, 32 sinusoidal time features, data prediction under a VE SDE, batch 256,
          Adam with lr 1e-3, global-norm clipping at 1, an EMA of the weights);
        - sgemm 2048² (torch.mm) GFLOP/s, the machine's f32 GEMM peak as PyTorch reaches it.

The networks are re-implemented from the published descriptions (the score net of Stanczuk,
Batzolis et al., ICML 2024) and scoregeo's own documented recipe (src/train/RECIPE.md).
"""

import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn

D, H, HIDDEN_LAYERS = 100, 512, 3
K = 400
T0 = 1e-3
SIGMA_MIN, SIGMA_MAX, TIME_SCALE = 0.01, 4.0, 999.0


class ReferenceScoreNet(nn.Module):
    """Linear(D+1→H), Dropout, ELU, hidden_layers × [Linear(H→H), Dropout, ELU], Linear(H→D)."""

    def __init__(self, dim, hidden, hidden_layers, dropout=0.0):
        super().__init__()
        mods = [nn.Linear(dim + 1, hidden), nn.Dropout(dropout), nn.ELU()]
        for _ in range(hidden_layers):
            mods += [nn.Linear(hidden, hidden), nn.Dropout(dropout), nn.ELU()]
        mods.append(nn.Linear(hidden, dim))
        self.mlp = nn.Sequential(*mods)

    def forward(self, x, t):
        return self.mlp(torch.cat([x, t[:, None]], dim=1))


def ve_sigma(t):
    """sigma(t) = sigma_min (sigma_max/sigma_min)^t."""
    return SIGMA_MIN * (SIGMA_MAX / SIGMA_MIN) ** t


def reference_score(model, x, t):
    """The score of the noise-predicting reference net: s = −ε̂/σ(t), the net fed 999·t."""
    tt = torch.full((x.shape[0],), TIME_SCALE * t, dtype=x.dtype)
    return -model(x, tt) / ve_sigma(t)


def make(args):
    os.makedirs(args.dir, exist_ok=True)
    torch.manual_seed(args.seed)
    model = ReferenceScoreNet(D, H, HIDDEN_LAYERS).eval()
    path = os.path.join(args.dir, "fcn.pth")
    torch.save(model.state_dict(), path)
    with open(path + ".json", "w") as f:
        json.dump(
            {
                "sde": "ve",
                "sigma_min": SIGMA_MIN,
                "sigma_max": SIGMA_MAX,
                "time_scale": TIME_SCALE,
                "prediction": "noise",
            },
            f,
        )
    g = torch.Generator().manual_seed(args.seed + 1)
    x = torch.randn(64, D, generator=g)
    with torch.no_grad():
        s = reference_score(model, x, 0.05)
    with open(os.path.join(args.dir, "check.json"), "w") as f:
        json.dump({"t": 0.05, "x": x.tolist(), "scores": s.tolist()}, f)


def load(args):
    model = ReferenceScoreNet(D, H, HIDDEN_LAYERS)
    model.load_state_dict(torch.load(os.path.join(args.dir, "fcn.pth")))
    return model.eval()


def best_of(reps, f):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_normal_bundle(model, points):
    sigma = ve_sigma(T0)
    data = torch.randn(points, D, generator=torch.Generator().manual_seed(2))

    def run():
        with torch.no_grad():
            for x0 in data:
                x = x0 + sigma * torch.randn(K, D)
                s = reference_score(model, x, T0)
                torch.linalg.svdvals(s)

    with torch.no_grad():
        reference_score(model, data[:1].repeat(K, 1), T0)  # warm-up
    return points / best_of(2, run)


def bench_network(model):
    x = torch.randn(16000, D)
    flops = 2.0 * ((D + 1) * H + HIDDEN_LAYERS * H * H + H * D)
    with torch.no_grad():
        reference_score(model, x, T0)
        t = best_of(3, lambda: reference_score(model, x, T0))
    return 16000 * flops / t / 1e9


def bench_jacobian(model, points):
    x = torch.randn(points, D, generator=torch.Generator().manual_seed(3))
    tt = torch.full((1,), TIME_SCALE * T0)
    sigma = ve_sigma(T0)

    def score_one(xi):
        return -model(xi[None, :], tt)[0] / sigma

    jac = torch.func.vmap(torch.func.jacrev(score_one))

    def run():
        for chunk in x.split(64):
            torch.linalg.svdvals(jac(chunk))

    run()
    return best_of(2, run) / points * 1e3


def bench_flipd(model, points, probes=8):
    x0 = torch.randn(points, D, generator=torch.Generator().manual_seed(4))
    sigma = ve_sigma(T0)

    def run():
        out = []
        for chunk in x0.split(256):
            x = chunk.clone().requires_grad_(True)
            s = reference_score(model, x, T0)
            trace = torch.zeros(x.shape[0])
            for _ in range(probes):
                v = torch.randint(0, 2, x.shape).float() * 2 - 1
                (g,) = torch.autograd.grad(s, x, v, retain_graph=True)
                trace += (g * v).sum(1)
            lid = D + sigma**2 * (trace / probes + (s.detach() ** 2).sum(1))
            out.append(lid)
        return torch.cat(out)

    run()
    return best_of(2, run) / points * 1e3


class DefaultNet(nn.Module):
    """scoregeo's default recipe: [y, emb(t)] → 256, 3 residual SiLU layers, 256 → D."""

    def __init__(self, dim, width=256, depth=4, features=32, scale=1000.0):
        super().__init__()
        self.features, self.scale = features, scale
        self.first = nn.Linear(dim + features, width)
        self.hidden = nn.ModuleList([nn.Linear(width, width) for _ in range(depth - 1)])
        self.last = nn.Linear(width, dim)

    def embed(self, t):
        half = self.features // 2
        k = torch.arange(half, dtype=torch.float32)
        w = torch.exp(-math.log(10000.0) * k / half)
        a = self.scale * t[:, None] * w[None, :]
        return torch.cat([torch.sin(a), torch.cos(a)], dim=1)

    def forward(self, y, t):
        h = torch.nn.functional.silu(self.first(torch.cat([y, self.embed(t)], dim=1)))
        for layer in self.hidden:
            h = h + torch.nn.functional.silu(layer(h))
        return self.last(h)


def bench_training(steps, batch=256, n=5000):
    torch.manual_seed(5)
    data = torch.randn(n, D)
    net = DefaultNet(D)
    ema = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    smin, smax = 0.02, 2.0

    def step():
        idx = torch.randint(0, n, (batch,))
        t = torch.rand(batch)
        sigma = (smin * (smax / smin) ** t)[:, None]
        z = torch.randn(batch, D)
        y = data[idx] + sigma * z
        x0 = net(y, t)
        s = (x0 - y) / sigma**2  # data prediction, VE: alpha = 1
        loss = ((sigma * s + z) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(ema, list(net.parameters()), 1 - 0.999)

    for _ in range(20):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - t)


def bench_sgemm():
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    t = best_of(5, lambda: a @ b)
    return 2.0 * 2048**3 / t / 1e9


def bench(args):
    model = load(args)
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "sgemm_gflops": bench_sgemm(),
        "nb_points_per_s": bench_normal_bundle(model, args.points),
        "network_gflops": bench_network(model),
        "jacobian_ms_per_point": bench_jacobian(model, args.jacobian_points),
        "flipd_ms_per_point": bench_flipd(model, args.flipd_points),
        "train_steps_per_s": bench_training(args.train_steps),
    }
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--dir", required=True)
    m.add_argument("--seed", type=int, default=0)
    b = sub.add_parser("bench")
    b.add_argument("--dir", required=True)
    b.add_argument("--points", type=int, default=200)
    b.add_argument("--jacobian-points", type=int, default=128)
    b.add_argument("--flipd-points", type=int, default=1024)
    b.add_argument("--train-steps", type=int, default=300)
    args = p.parse_args()
    {"make": make, "bench": bench}[args.cmd](args)


if __name__ == "__main__":
    main()

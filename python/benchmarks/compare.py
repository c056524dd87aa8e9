"""Timings as ratios measured in one run (run it with nothing else heavy beside it).

1. The Python path's overhead over the CLI on the same model: the normal-bundle estimate of the
   shipped dataset datasets/sphere4_r16.csv with its shipped model, as `est.fit` (array already
   in memory) and as the whole `scoregeo id-estimate` process; also the same network wrapped as
   a Python callable, to show the cost of calling back into Python.
2. MLE, TwoNN and pointwise local PCA against scikit-dimension on the same 20 000 × 30 data and
   k = 20 (skipped when skdim is not installed).

    python python/benchmarks/compare.py [path/to/release/scoregeo]
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

import scoregeo

REPO = pathlib.Path(__file__).resolve().parents[2]
CLI = sys.argv[1] if len(sys.argv) > 1 else str(REPO / "target" / "release" / "scoregeo")


def best_of(f, repeats=3):
    """The least wall time of `repeats` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - start)
    return min(times), out


def cli_run(*args):
    out = subprocess.run([CLI, *args], check=True, capture_output=True, text=True)
    return out.stdout


def overhead():
    data = REPO / "datasets" / "sphere4_r16.csv"
    X = np.loadtxt(data, delimiter=",", skiprows=1)
    model = scoregeo.default_model(X)
    assert model.provenance == "shipped", model.provenance
    est = scoregeo.NormalBundle(seed=0)
    t_py, fitted = best_of(lambda: est.fit(X, model=model))
    t_cli, report = best_of(lambda: cli_run("id-estimate", str(data), "--model", str(model.path),
                                            "--format", "json"))
    assert json.loads(report)["global_id"] == fitted.dimension_
    fn = lambda x, t: model.score(x, t)  # noqa: E731
    t_cb, cb = best_of(lambda: scoregeo.NormalBundle(seed=0).fit(X, model=fn, sde=model.sde,
                                                                 batch_size=16384), repeats=1)
    print(f"normal bundle, {X.shape[0]} x {X.shape[1]}, shipped MLP: Python fit {t_py:.3f} s, "
          f"CLI process {t_cli:.3f} s, ratio Python/CLI {t_py / t_cli:.3f}; "
          f"as a Python callable {t_cb:.3f} s ({t_cb / t_py:.2f}x the native model; "
          f"global ID {cb.dimension_} vs {fitted.dimension_})")


def versus_skdim():
    try:
        import skdim
    except ImportError:
        print("scikit-dimension not installed: skipped")
        return
    X, _ = scoregeo.generate("sphere", n=20000, dim=5, ambient=30, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.npy")
        np.save(path, X)
        rows = [
            ("MLE", lambda: skdim.id.MLE(K=20).fit(X, n_neighbors=20).dimension_,
             lambda: scoregeo.MLE(k=20).fit(X).dimension_, "mle"),
            ("TwoNN", lambda: skdim.id.TwoNN().fit(X).dimension_,
             lambda: scoregeo.TwoNN().fit(X).dimension_, "twonn"),
            ("lPCA pointwise", lambda: np.mean(skdim.id.lPCA().fit_pw(X, n_neighbors=20).dimension_pw_),
             lambda: scoregeo.LPCA(k=20).fit(X).dimension_, "lpca"),
        ]
        for name, sk, ours, method in rows:
            # best of three on both sides where skdim is quick enough (its TwoNN and lPCA take
            # seconds each, so one run there)
            t_sk, v_sk = best_of(sk, repeats=3 if method == "mle" else 1)
            t_py, v_py = best_of(ours)
            # the report goes to a file, as a user keeps it: a pipe read back here would time
            # Python's own reading and decoding of 1.4 MB of JSON as part of the process
            report = os.path.join(tmp, f"{method}.json")
            t_cli, _ = best_of(lambda: cli_run("id-estimate", path, "--method", method,
                                               "--format", "json", "-o", report))
            with open(report) as f:
                assert abs(json.load(f)["global_id"] - v_py) < 1e-9, method
            print(f"{name:15s} skdim {t_sk:7.3f} s (ID {v_sk:.3f}) | scoregeo Python {t_py:6.3f} s "
                  f"(ID {v_py:.3f}) {t_sk / t_py:6.1f}x | CLI process {t_cli:6.3f} s "
                  f"{t_sk / t_cli:6.1f}x")


if __name__ == "__main__":
    scoregeo.set_quiet(True)
    overhead()
    versus_skdim()

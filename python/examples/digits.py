"""Every estimator of the Python API on scikit-learn's bundled handwritten digits.

    python python/examples/digits.py OUT_DIR

1797 images of 8×8 pixels (D = 64, values 0–16, scaled to [0, 1]; no download). Trains (or
reads from the cache) the default model as ``scoregeo id-estimate`` would, runs the normal
bundle, the Jacobian spectrum, FLIPD, the automatic choice and the three classic estimators at
every point, and writes ``results.json``, ``results.md``, ``spectrum.png`` and ``methods.png``.
"""

import json
import pathlib
import sys
import time

import numpy as np
from sklearn.datasets import load_digits

import scoregeo


def main(out):
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    X = load_digits().data.astype(np.float64) / 16.0
    started = time.perf_counter()
    model = scoregeo.default_model(X)
    model_s = time.perf_counter() - started
    estimators = {
        "nb": scoregeo.NormalBundle(seed=0),
        "jacobian": scoregeo.Jacobian(seed=0),
        "flipd": scoregeo.FLIPD(seed=0),
        "mle": scoregeo.MLE(k=20),
        "twonn": scoregeo.TwoNN(),
        "lpca": scoregeo.LPCA(),
    }
    rows, fitted, seconds = {}, [], []
    for name, est in estimators.items():
        t = time.perf_counter()
        est.fit(X, model=model) if name in ("nb", "jacobian", "flipd") else est.fit(X)
        secs = time.perf_counter() - t
        rows[name] = {
            "global_id": float(est.dimension_),
            "median_local_id": float(np.median(est.dimension_pw_)),
            "seconds": secs,
        }
        if getattr(est, "reliability_", None) is not None:
            r = est.reliability_
            rows[name]["reliability"] = {
                "clear_fraction": r["clear_fraction"],
                "median_margin": r["median_margin"],
                "trusted": r["trusted"],
            }
        fitted.append(est.estimate_)
        seconds.append(secs)
    auto = scoregeo.Auto(seed=0).fit(X, model=model)
    rows["auto"] = {"global_id": float(auto.dimension_), "chosen": auto.chosen_}
    scoregeo.plot_spectrum(estimators["nb"].estimate_, str(out / "spectrum.png"))
    scoregeo.plot_comparison(fitted, str(out / "methods.png"), seconds=seconds)
    report = {"data": "sklearn digits, 1797 × 64, pixels / 16", "model_seconds": model_s,
              "methods": rows}
    (out / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["| method | global ID | median local ID | seconds | note |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        note = ""
        if "reliability" in r:
            rel = r["reliability"]
            note = f"{100 * rel['clear_fraction']:.0f} % of points cut clearly"
        if "chosen" in r:
            note = f"chose {r['chosen']}"
        lines.append(
            f"| {name} | {r['global_id']:.2f} | {r.get('median_local_id', float('nan')):.1f} "
            f"| {r.get('seconds', float('nan')):.2f} | {note} |"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"model: {model_s:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "digits-results")

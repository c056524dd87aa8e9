"""Same data, model and seed: the same numbers as `scoregeo id-estimate --format json`."""

import json
import subprocess

import numpy as np
import pytest

import scoregeo
from conftest import FIXTURES

PATCH = FIXTURES / "pytorch" / "patch8d.csv"
CHECKPOINT = FIXTURES / "pytorch" / "patch8d_model.pth"
OVERRIDES = dict(sde="ve", sigma_max=4.0, time_scale=999.0)
FLAGS = ["--sde", "ve", "--sigma-max", "4", "--time-scale", "999"]


def run_cli(cli, data, method, *flags):
    out = subprocess.run(
        [cli, "id-estimate", str(data), "--method", method, "--format", "json", *flags],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def assert_same(report, est):
    assert report["global_id"] == est.dimension_
    assert [p["index"] for p in report["points"]] == est.indices_.tolist()
    assert [p["local_id"] for p in report["points"]] == est.dimension_pw_.tolist()


def patch_data():
    return np.loadtxt(PATCH, delimiter=",", skiprows=1)


@pytest.mark.parametrize(
    "method, estimator",
    [
        ("nb", scoregeo.NormalBundle(points=40, seed=3)),
        ("jacobian", scoregeo.Jacobian(points=40, seed=3)),
        ("flipd", scoregeo.FLIPD(points=40, seed=3)),
    ],
)
def test_pytorch_checkpoint(cli, method, estimator):
    model = scoregeo.load_model(str(CHECKPOINT), **OVERRIDES)
    est = estimator.fit(patch_data(), model=model)
    report = run_cli(cli, PATCH, method, "--model", str(CHECKPOINT), *FLAGS,
                     "--points", "40", "--seed", "3")
    assert_same(report, est)


@pytest.mark.parametrize(
    "method, estimator",
    [
        ("mle", scoregeo.MLE(k=20)),
        ("twonn", scoregeo.TwoNN()),
        ("lpca", scoregeo.LPCA(k=20)),
    ],
)
def test_classic(cli, method, estimator):
    est = estimator.fit(patch_data())
    assert_same(run_cli(cli, PATCH, method), est)


def test_mixture_oracle_and_its_default_sigma(cli):
    X = patch_data()
    est = scoregeo.NormalBundle(points=25, seed=5).fit(X, model=scoregeo.mixture_model(X))
    report = run_cli(cli, PATCH, "nb", "--model", "mixture", "--points", "25", "--seed", "5")
    assert_same(report, est)
    assert report["settings"]["t0"] == est.settings_["t0"]


def test_a_model_trained_from_python_reads_the_same_in_the_cli(cli, tmp_path):
    X, _ = scoregeo.generate("sphere", n=300, dim=1, ambient=3, seed=2)
    path = tmp_path / "circle.safetensors"
    data = tmp_path / "circle.csv"
    np.savetxt(data, X, delimiter=",")
    model = scoregeo.train(X, steps=150, seed=1, path=str(path))
    assert model.path == path and path.is_file()
    est = scoregeo.NormalBundle(points=30, seed=1, sigma=0.05).fit(
        np.loadtxt(data, delimiter=","), model=model
    )
    report = run_cli(cli, data, "nb", "--model", str(path), "--points", "30", "--seed", "1",
                     "--sigma", "0.05")
    assert_same(report, est)


def test_flipd_takes_forward_mode_jvps_on_a_network_and_they_match_vjps():
    model = scoregeo.load_model(str(CHECKPOINT), **OVERRIDES)
    X = patch_data()
    # exact_max_dim=1 forces the Hutchinson probes at this small D
    jvp = scoregeo.FLIPD(points=30, seed=3, exact_max_dim=1).fit(X, model=model)
    vjp = scoregeo.FLIPD(points=30, seed=3, exact_max_dim=1, derivative="autodiff").fit(
        X, model=model)
    assert jvp.settings_["trace"].endswith("jvp")
    assert vjp.settings_["trace"].endswith("autodiff")
    assert np.allclose(jvp.dimension_pw_, vjp.dimension_pw_, rtol=1e-3, atol=1e-3)

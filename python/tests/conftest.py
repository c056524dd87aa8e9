"""Shared oracles and the CLI binary for the tests."""

import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

import scoregeo

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def subspace_gaussian(dim, k, sde, seed=0):
    """The exact score of x₀ ~ N(0, QQᵀ) (Q: an orthonormal D×k basis) under `sde`.

    Noised, x_t ~ N(0, α²QQᵀ + σ²I), whose inverse covariance is P/(α² + σ²) + (I − P)/σ²
    with P = QQᵀ, so s(x, t) = −x P/(α² + σ²) − x (I − P)/σ². Returns (score, Q)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, k)))
    p = q @ q.T

    def score(x, t):
        alpha, sigma = sde.marginal(t)
        xp = x @ p
        return -(xp / (alpha**2 + sigma**2) + (x - xp) / sigma**2)

    return score, q


@pytest.fixture(scope="session")
def cli():
    """The `scoregeo` binary: $SCOREGEO_CLI, else target/{debug,release}/scoregeo under
    $CARGO_TARGET_DIR or the repository, else built now with cargo."""
    if os.environ.get("SCOREGEO_CLI"):
        return os.environ["SCOREGEO_CLI"]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("debug", "release"):
        exe = target / profile / "scoregeo"
        if exe.is_file():
            return str(exe)
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("no scoregeo CLI: set SCOREGEO_CLI or build it with `cargo build`")
    subprocess.run([cargo, "build", "--bin", "scoregeo"], cwd=REPO, check=True)
    return str(target / "debug" / "scoregeo")


@pytest.fixture(autouse=True)
def _quiet():
    scoregeo.set_quiet(True)
    yield

"""Estimates against oracles whose answer is known exactly."""

import threading

import numpy as np
import pytest

import scoregeo
from conftest import subspace_gaussian


@pytest.mark.parametrize(
    "sde",
    [scoregeo.VE(sigma_min=0.01, sigma_max=5.0), scoregeo.VP(beta_min=0.1, beta_max=20.0)],
    ids=["ve", "vp"],
)
def test_exact_subspace_score_reads_k_at_every_point(sde):
    score, q = subspace_gaussian(12, 4, sde, seed=1)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 4)) @ q.T
    nb = scoregeo.NormalBundle(seed=0).fit(X, model=score, sde=sde, batch_size=100)
    assert nb.dimension_ == 4.0
    assert nb.dimension_pw_.shape == (60,)
    assert np.all(nb.dimension_pw_ == 4.0)
    assert nb.spectra_.shape == (60, 12)
    # 8 normal singular values near √K/σ, then a gap (tangent values are O(√K·|x|))
    assert np.all(nb.spectra_[:, 7] > 10 * nb.spectra_[:, 8])
    jac = scoregeo.Jacobian().fit(X, model=score, sde=sde)
    assert np.all(jac.dimension_pw_ == 4.0)
    flipd = scoregeo.FLIPD().fit(X, model=score, sde=sde)
    # D + σ²(tr ∇s + ‖s‖²) for this Gaussian is 4 up to the O(σ²) Gaussian-width terms
    np.testing.assert_allclose(flipd.dimension_pw_, 4.0, atol=0.01)
    assert flipd.reliability_["trusted"]
    # without the 2σ read: the same local IDs, half the score rows, no diagnostic
    rows = {True: 0, False: 0}

    def counting(check):
        def fn(x, t):
            rows[check] += len(x)
            return score(x, t)

        return fn

    scoregeo.FLIPD().fit(X, model=counting(True), sde=sde)
    single = scoregeo.FLIPD(scale_check=False).fit(X, model=counting(False), sde=sde)
    np.testing.assert_array_equal(single.dimension_pw_, flipd.dimension_pw_)
    assert single.reliability_ is None
    assert rows[False] > 0 and rows[True] == 2 * rows[False]


def test_callable_sees_float32_batches_when_asked():
    sde = scoregeo.VE(sigma_min=0.01, sigma_max=5.0)
    score, q = subspace_gaussian(6, 2, sde)
    seen = []

    def spy(x, t):
        seen.append((x.dtype, x.shape, type(t)))
        return score(x.astype(np.float64), t).astype(np.float32)

    X = np.random.default_rng(0).standard_normal((10, 2)) @ q.T
    est = scoregeo.Jacobian().fit(X, model=spy, sde=sde, batch_size=7, dtype="float32")
    assert est.dimension_ == 2.0
    assert {d for d, _, _ in seen} == {np.dtype(np.float32)}
    assert max(s[0] for _, s, _ in seen) <= 7
    assert {t for _, _, t in seen} == {float}


def uniform_sphere(n, k, seed):
    """n points uniform on the unit k-sphere in ℝ^{k+1} (normalised Gaussians)."""
    z = np.random.default_rng(seed).standard_normal((n, k + 1))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def test_mle_on_a_uniform_5_sphere():
    X = uniform_sphere(3000, 5, seed=3)
    est = scoregeo.MLE(k=20).fit(X)
    assert abs(est.dimension_ - 5.0) < 0.6
    assert est.dimension_pw_.shape == (3000,)
    assert np.array_equal(est.indices_, np.arange(3000))


def test_classic_estimators_on_a_generated_sphere():
    X, truth = scoregeo.generate("sphere", n=2000, dim=4, ambient=16, seed=1)
    assert X.shape == (2000, 16) and truth == 4
    # a sphere embedded isometrically keeps unit norms
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-12)
    for est in (scoregeo.MLE(k=20), scoregeo.TwoNN(), scoregeo.LPCA()):
        assert abs(est.fit(X).dimension_ - 4.0) < 0.6, est


def test_layouts_and_dtypes_give_the_same_numbers():
    X = np.ascontiguousarray(uniform_sphere(500, 3, seed=4))
    ref = scoregeo.MLE(k=10).fit(X).dimension_pw_
    fortran = np.asfortranarray(X)
    assert np.array_equal(scoregeo.MLE(k=10).fit(fortran).dimension_pw_, ref)
    strided = np.repeat(X, 2, axis=1)[:, ::2]
    assert not strided.flags.c_contiguous
    assert np.array_equal(scoregeo.MLE(k=10).fit(strided).dimension_pw_, ref)
    x32 = X.astype(np.float32)
    # float32 input is read exactly as its float64 values
    assert np.array_equal(
        scoregeo.MLE(k=10).fit(x32).dimension_pw_,
        scoregeo.MLE(k=10).fit(x32.astype(np.float64)).dimension_pw_,
    )


def test_the_gil_is_released_while_rust_computes():
    X = uniform_sphere(20000, 8, seed=5)
    started = threading.Event()

    def work():
        started.set()
        scoregeo.TwoNN().fit(X)

    worker = threading.Thread(target=work)
    worker.start()
    started.wait()
    ticks = 0
    while worker.is_alive():
        ticks += 1
    worker.join()
    # with the GIL held through the fit this loop could not run until the worker finished
    assert ticks > 1000, ticks


def test_reread_cuts_kept_spectra_with_another_rule():
    sde = scoregeo.VE(sigma_min=0.01, sigma_max=5.0)
    score, q = subspace_gaussian(8, 3, sde)
    X = np.random.default_rng(1).standard_normal((10, 3)) @ q.T
    calls = []

    def counted(x, t):
        calls.append(len(x))
        return score(x, t)

    est = scoregeo.NormalBundle().fit(X, model=counted, sde=sde)
    n_calls = len(calls)
    ratio = est.reread("ratio")
    assert len(calls) == n_calls  # no new score evaluations
    assert ratio.dimension_ == 3.0 and ratio.settings_["rule"] == "ratio"
    assert est.settings_["rule"] == "maxgap"


def test_geodesic_on_a_line_stays_on_it():
    # a Gaussian concentrated on the x-axis of ℝ²: the geodesic between two axis points is the
    # axis segment
    sde = scoregeo.VE(sigma_min=0.01, sigma_max=5.0)
    q = np.array([[1.0], [0.0]])

    def axis_score(x, t):
        alpha, sigma = sde.marginal(t)
        xp = x @ (q @ q.T)
        return -(xp / (alpha**2 + sigma**2) + (x - xp) / sigma**2)

    g = scoregeo.geodesic(None, np.array([-1.0, 0.0]), np.array([1.0, 0.0]), model=axis_score,
                          sde=sde, nodes=16)
    assert g.converged
    assert g.path.shape == (16, 2)
    np.testing.assert_allclose(g.path[:, 1], 0.0, atol=1e-9)
    np.testing.assert_allclose(g.path[[0, -1]], [[-1.0, 0.0], [1.0, 0.0]])
    assert g.length > 0 and g.energy > 0


def test_vjp_callable_matches_finite_differences():
    sde = scoregeo.VE(sigma_min=0.01, sigma_max=5.0)
    score, q = subspace_gaussian(4, 2, sde)
    used = []

    def vjp(x, t, v):
        # s is linear with a symmetric Jacobian J = −P/(α²+σ²) − (I − P)/σ², so vᵀJ = J v
        used.append(len(x))
        return score(v, t)

    X = np.random.default_rng(3).standard_normal((40, 2)) @ q.T
    fd = scoregeo.geodesic(X, 0, 1, model=score, sde=sde, nodes=8)
    exact = scoregeo.geodesic(X, 0, 1, model=score, sde=sde, vjp=vjp, nodes=8)
    assert used, "the vjp callable was not called"
    np.testing.assert_allclose(exact.path, fd.path, atol=1e-5)
    np.testing.assert_allclose(exact.length, fd.length, rtol=1e-5)


def test_auto_trusts_the_exact_score_and_asks_the_neighbours_on_a_weak_one():
    sde = scoregeo.VE(sigma_min=0.01, sigma_max=5.0)
    score, q = subspace_gaussian(12, 4, sde, seed=1)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((60, 4)) @ q.T
    auto = scoregeo.Auto(seed=0).fit(X, model=score, sde=sde)
    assert auto.chosen_ == "nb" and auto.dimension_ == 4.0
    assert auto.reliability_["trusted"] and auto.reliability_["clear_fraction"] == 1.0
    assert auto.reliability_["margins"].shape == (60,)
    # 60 points: the check's tolerance widens with TwoNN's sampling error
    assert auto.neighbours_["consistent"] and auto.neighbours_["reference_dim"] == 4
    assert auto.neighbours_["tolerance"] > 0.7

    # the exact score at 0.3 of its size: the normal values sit at 0.3·√(K−1)/σ, below half the
    # lower Marchenko–Pastur edge (½(1 − √(8/64)) ≈ 0.32), so no cut is clear; the bundle's
    # reading stands only where the neighbours confirm it
    X = rng.standard_normal((200, 4)) @ q.T

    def weak(x, t):
        return 0.3 * score(x, t)

    auto = scoregeo.Auto(seed=0).fit(X, model=weak, sde=sde)
    assert not auto.reliability_["trusted"] and auto.reliability_["clear_fraction"] == 0.0
    assert auto.neighbours_["confirmed"] and auto.chosen_ == "nb" and auto.dimension_ == 4.0
    # data on a plane inside the model's subspace: the neighbours read 2, not 4, and answer
    X2 = rng.standard_normal((200, 2)) @ q[:, :2].T
    auto = scoregeo.Auto(seed=0).fit(X2, model=weak, sde=sde)
    assert auto.normal_bundle_.dimension_ == 4.0 and not auto.neighbours_["consistent"]
    assert auto.chosen_ == "twonn" and abs(auto.dimension_ - 2.0) < 0.5


def test_auto_falls_back_when_the_bundle_reads_the_span_of_a_curve():
    # a unit circle in ℝ⁴ and the exact score of a Gaussian on its plane (a model that smoothed
    # the curve into its span): every cut is clean at 2, but the nearest neighbours read 1
    sde = scoregeo.VE(sigma_min=0.01, sigma_max=5.0)
    n = 1500
    a = 2 * np.pi * (np.arange(n) + 0.5) / n + 0.3 * np.sin(np.arange(n))
    X = np.stack([np.cos(a), np.sin(a), 0 * a, 0 * a], axis=1)

    def plane(x, t):
        alpha, sigma = sde.marginal(t)
        xp = x.copy()
        xp[:, 2:] = 0
        return -(xp / (alpha**2 + sigma**2) + (x - xp) / sigma**2)

    auto = scoregeo.Auto(points=40, seed=0).fit(X, model=plane, sde=sde)
    assert auto.reliability_["trusted"] and auto.normal_bundle_.dimension_ == 2.0
    assert not auto.neighbours_["consistent"] and auto.neighbours_["octaves"] < -0.5
    assert auto.chosen_ == "twonn" and abs(auto.dimension_ - 1.0) < 0.1
    # the native check agrees with itself at the truth
    assert scoregeo._native.neighbour_check(X, 1.0)["consistent"]

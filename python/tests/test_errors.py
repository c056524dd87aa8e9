"""Bad input is a clear Python exception, never a crash or a hang."""

import numpy as np
import pytest

import scoregeo
from conftest import subspace_gaussian

SDE = scoregeo.VE(sigma_min=0.01, sigma_max=5.0)


def points(n=30, d=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d))


@pytest.mark.parametrize(
    "X, error, words",
    [
        (points().astype(np.int64), TypeError, "float32 or float64"),
        (points().astype(np.complex128), TypeError, "float32 or float64"),
        (points().tolist(), TypeError, "numpy array"),
        (np.zeros(5), ValueError, "2-D"),
        (np.zeros((2, 3, 4)), ValueError, "2-D"),
        (np.zeros((0, 3)), ValueError, "empty"),
        (np.zeros((3, 0)), ValueError, "empty"),
    ],
    ids=["int", "complex", "list", "1d", "3d", "no-rows", "no-columns"],
)
def test_bad_arrays(X, error, words):
    for est in (scoregeo.MLE(), scoregeo.NormalBundle()):
        with pytest.raises(error, match=words):
            est.fit(X, model=scoregeo.mixture_model(points()))


def test_nan_names_row_and_column():
    X = points()
    X[4, 2] = np.nan
    with pytest.raises(ValueError, match="row 5, column 3"):
        scoregeo.TwoNN().fit(X)


@pytest.mark.parametrize("scale, words", [(1e200, "too large"), (1e-200, "too small")])
def test_data_beyond_f64_squared_distances_are_a_value_error(scale, words):
    X = points() * scale
    with pytest.raises(ValueError, match="rescale the data"):
        scoregeo.MLE().fit(X)
    for est in (scoregeo.NormalBundle(), scoregeo.Jacobian(), scoregeo.FLIPD()):
        with pytest.raises(ValueError, match=words):
            est.fit(X, model=lambda x, t: -x, sde=SDE)
    with pytest.raises(ValueError, match=words):
        scoregeo.train(X, steps=10)


class Boom(Exception):
    pass


def test_an_exception_in_the_callable_comes_back_with_its_traceback():
    calls = []

    def exploding_score(x, t):
        calls.append(len(x))
        raise Boom("inside the user's model")

    X = points(200, 4)
    with pytest.raises(Boom, match="inside the user's model") as info:
        scoregeo.NormalBundle().fit(X, model=exploding_score, sde=SDE, batch_size=1)
    assert any(entry.name == "exploding_score" for entry in info.traceback)
    # later batches fail at once without calling Python again (one call per thread at most)
    assert len(calls) <= 16, len(calls)


@pytest.mark.parametrize(
    "result, words",
    [
        (lambda x: x[:, :2], "shape"),
        (lambda x: x[:-1], "shape"),
        (lambda x: x.astype(np.int32), "dtype"),
        (lambda x: np.full_like(x, np.inf), "non-finite"),
        (lambda x: x.tolist(), "numpy array"),
        (lambda x: None, "numpy array"),
    ],
    ids=["columns", "rows", "dtype", "inf", "list", "none"],
)
def test_a_bad_callable_result_is_a_value_error(result, words):
    X = points(20, 3)
    for est in (scoregeo.NormalBundle(), scoregeo.Jacobian(), scoregeo.FLIPD()):
        with pytest.raises(ValueError, match=words):
            est.fit(X, model=lambda x, t: result(x), sde=SDE)
    with pytest.raises(ValueError, match=words):
        scoregeo.geodesic(X, 0, 1, model=lambda x, t: result(x), sde=SDE)


def test_the_model_works_again_after_a_failure():
    score, q = subspace_gaussian(5, 2, SDE)
    fail = [True]

    def flaky(x, t):
        if fail[0]:
            raise Boom("first time")
        return score(x, t)

    m = scoregeo.score_function(flaky, 5, sde=SDE)
    X = np.random.default_rng(0).standard_normal((10, 2)) @ q.T
    with pytest.raises(Boom):
        scoregeo.Jacobian().fit(X, model=m)
    fail[0] = False
    assert scoregeo.Jacobian().fit(X, model=m).dimension_ == 2.0


def test_parameters_are_checked_and_named():
    X = points()
    m = scoregeo.mixture_model(X)
    with pytest.raises(ValueError, match="rule"):
        scoregeo.NormalBundle(rule="median").fit(X, model=m)
    with pytest.raises(ValueError, match="threshold"):
        scoregeo.NormalBundle(rule="threshold:2").fit(X, model=m)
    with pytest.raises(ValueError, match="points"):
        scoregeo.NormalBundle(points=0).fit(X, model=m)
    with pytest.raises(ValueError, match="not both"):
        scoregeo.NormalBundle(t0=1e-3, sigma=0.1).fit(X, model=m)
    with pytest.raises(ValueError, match="samples"):
        scoregeo.NormalBundle(samples=0).fit(X, model=m)
    with pytest.raises(ValueError, match="probes"):
        scoregeo.FLIPD(probes=0).fit(X, model=m)
    with pytest.raises(ValueError, match="probe"):
        scoregeo.FLIPD(probe="uniform").fit(X, model=m)
    with pytest.raises(ValueError, match="k"):
        scoregeo.MLE(k=0).fit(X)
    with pytest.raises(ValueError, match="discard_fraction"):
        scoregeo.TwoNN(discard_fraction=1.5).fit(X)
    with pytest.raises(ValueError, match="dimension mismatch"):
        scoregeo.NormalBundle().fit(points(d=4), model=m)


def test_models_are_required_and_checked():
    X = points()
    with pytest.raises(ValueError, match="score model"):
        scoregeo.NormalBundle().fit(X)
    with pytest.raises(ValueError, match="SDE"):
        scoregeo.NormalBundle().fit(X, model=lambda x, t: -x)
    with pytest.raises(TypeError, match="model"):
        scoregeo.NormalBundle().fit(X, model="model.pth")
    with pytest.raises(TypeError, match="sde"):
        scoregeo.score_function(lambda x, t: -x, 3, sde="ve")
    with pytest.raises(ValueError, match="sigma"):
        scoregeo.VE(sigma_min=1.0, sigma_max=0.1)
    with pytest.raises(FileNotFoundError):
        scoregeo.load_model("/nonexistent/model.safetensors")
    with pytest.raises(ValueError, match="time_scale"):
        scoregeo.load_model(
            str(__import__("conftest").FIXTURES / "pytorch" / "patch8d_model.pth"), sde="ve",
            sigma_max=4.0,
        )


def test_geodesic_endpoints_are_checked():
    X = points()
    m = scoregeo.mixture_model(X)
    with pytest.raises(IndexError, match="out of range"):
        scoregeo.geodesic(X, 0, 30, model=m)
    with pytest.raises(ValueError, match="row index"):
        scoregeo.geodesic(None, 0, 1, model=m)
    with pytest.raises(ValueError, match="non-finite"):
        scoregeo.geodesic(X, np.array([0.0, np.nan, 0.0]), 1, model=m)
    with pytest.raises(ValueError, match="geodesic endpoints|dimension"):
        scoregeo.geodesic(X, np.zeros(2), 1, model=m)

"""scoregeo: intrinsic dimension and manifold geometry from score (diffusion) models.

The estimators follow scikit-dimension's conventions: the constructor holds the settings,
``fit(X, model=...)`` returns the estimator, and results end in an underscore::

    import numpy as np, scoregeo
    X, truth = scoregeo.generate("sphere", n=2000, dim=4, ambient=16, seed=1)
    est = scoregeo.MLE(k=20).fit(X)
    est.dimension_          # global ID
    est.dimension_pw_       # local IDs, one per evaluated point

Score-based estimators (``NormalBundle``, ``Jacobian``, ``FLIPD``) read a score model: one from
``load_model``, ``default_model``, ``train`` or ``mixture_model``, or any Python function
``fn(x, t) -> scores`` with ``sde=scoregeo.VE(...)`` or ``scoregeo.VP(...)``.

Every computation runs in Rust with the GIL released; numpy arrays of float32 or float64 in any
memory order are read in one pass.
"""

from ._scoregeo import (
    VE,
    VP,
    Estimate,
    Geodesic,
    Model,
    Sde,
    SubVP,
    __version__,
    default_model,
    generate,
    load_model,
    mixture_model,
    plot_comparison,
    plot_geodesics,
    plot_histogram,
    plot_spectrum,
    score_function,
    set_quiet,
    train,
)
from . import _scoregeo as _native

__all__ = [
    "NormalBundle",
    "Auto",
    "Jacobian",
    "FLIPD",
    "MLE",
    "TwoNN",
    "LPCA",
    "VE",
    "VP",
    "SubVP",
    "Sde",
    "Model",
    "Estimate",
    "Geodesic",
    "load_model",
    "default_model",
    "train",
    "mixture_model",
    "score_function",
    "generate",
    "geodesic",
    "plot_spectrum",
    "plot_histogram",
    "plot_comparison",
    "plot_geodesics",
    "set_quiet",
    "__version__",
]


def _as_model(model, X, sde, batch_size, vjp, dtype):
    """A native Model from what a user passes as ``model``."""
    if isinstance(model, Model):
        if sde is not None:
            raise ValueError("`sde` describes a callable model; this model has its own SDE")
        return model
    if model is None:
        return None
    if callable(model):
        if sde is None:
            raise ValueError(
                "a callable score model needs its SDE: sde=scoregeo.VE(sigma_min=..., "
                "sigma_max=...) or sde=scoregeo.VP(beta_min=..., beta_max=...)"
            )
        shape = getattr(X, "shape", None)
        if shape is None or len(shape) != 2:
            # let the native reader word the error about X
            return score_function(model, 1, sde=sde, batch_size=batch_size, vjp=vjp, dtype=dtype)
        return score_function(
            model, int(shape[1]), sde=sde, batch_size=batch_size, vjp=vjp, dtype=dtype
        )
    raise TypeError(
        "`model` must be a scoregeo.Model (load_model, default_model, train, mixture_model) "
        f"or a callable fn(x, t) -> scores, got {type(model).__name__}"
    )


class _Estimator:
    """Common machinery: settings in the constructor, ``fit`` fills the trailing-underscore
    results."""

    _method = ""
    _needs_model = False

    def __init__(self, **params):
        self._params = dict(params)

    def get_params(self, deep=True):
        """The constructor's settings (scikit-learn convention)."""
        return dict(self._params)

    def set_params(self, **params):
        """Changes settings; unknown names are an error."""
        unknown = set(params) - set(self._params)
        if unknown:
            raise ValueError(f"unknown settings for {type(self).__name__}: {sorted(unknown)}")
        self._params.update(params)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    def _native_params(self):
        return dict(self._params)

    def fit(self, X, y=None, model=None, *, sde=None, batch_size=1024, vjp=None, dtype="float64"):
        """Estimates the intrinsic dimension of ``X`` (n points × D coordinates).

        ``model``: for score-based estimators, a ``scoregeo.Model`` or a callable
        ``fn(x: ndarray[B, D], t: float) -> ndarray[B, D]`` of scores, with ``sde`` its forward
        SDE, called with at most ``batch_size`` rows of ``dtype``; ``vjp(x, t, v)`` optionally
        gives vector–Jacobian products. Classic estimators ignore ``model``.
        Returns the estimator, with ``dimension_`` (global ID), ``dimension_pw_`` (local IDs),
        ``indices_`` (the rows evaluated), ``spectra_`` (or None) and ``estimate_``.
        """
        m = None
        if self._needs_model:
            if model is None:
                raise ValueError(
                    f"{type(self).__name__} reads a score model: pass model=scoregeo.load_model(...), "
                    "scoregeo.default_model(X), scoregeo.train(X), or a callable with sde=..."
                )
            m = _as_model(model, X, sde, batch_size, vjp, dtype)
        estimate = _native.estimate(self._method, X, m, **self._native_params())
        self._store(estimate)
        return self

    def fit_transform(self, X, y=None, **fit_args):
        """Fits and returns the local IDs (``dimension_pw_``)."""
        return self.fit(X, **fit_args).dimension_pw_

    def _store(self, estimate):
        self.estimate_ = estimate
        self.dimension_ = estimate.global_id
        self.dimension_pw_ = estimate.local_ids
        self.indices_ = estimate.indices
        self.spectra_ = estimate.spectra
        self.settings_ = __import__("json").loads(estimate.settings_json())
        self.reliability_ = estimate.reliability

    def reread(self, rule):
        """The same spectra cut with another rule ("maxgap", "ratio", "threshold:τ"), without
        evaluating the model again; returns a new fitted estimator."""
        if not hasattr(self, "estimate_"):
            raise ValueError("fit the estimator before re-reading its spectra")
        other = type(self)(**{**self._params, "rule": rule})
        other._store(self.estimate_.reread(rule))
        return other


class NormalBundle(_Estimator):
    """The normal-bundle estimator (Stanczuk, Batzolis et al., ICML 2024): singular values of
    K = ``samples`` scores sampled around each point at time ``t0`` (or noise level ``sigma`` in
    data units); the largest gap (``rule``) counts the normal directions.

    ``points=None`` evaluates every row, an int a seeded subset. ``adaptive=True`` (the default)
    reads each point at K/2 samples first and stops there when its cut is decided; False draws
    exactly K for every point."""

    _method = "nb"
    _needs_model = True

    def __init__(self, t0=None, sigma=None, samples=None, rule="maxgap", normal_floor=0.1,
                 points=None, seed=0, keep_spectra=True, batch=None, adaptive=True):
        super().__init__(t0=t0, sigma=sigma, samples=samples, rule=rule,
                         normal_floor=normal_floor, points=points, seed=seed,
                         keep_spectra=keep_spectra, batch=batch, adaptive=adaptive)


class Auto:
    """The automatic choice of ``scoregeo id-estimate`` (its default, ``--method auto``): the
    normal bundle, read by the median of its local IDs, when the data's nearest neighbours agree
    with that reading, else TwoNN. The neighbours' check compares TwoNN on the data with TwoNN
    on flat references of the reading's dimension (a model that cannot resolve a manifold
    curving below its scale reads the span the manifold fills). Where the bundle's cuts are
    clear (``reliability_["trusted"]``) the neighbours must not read clearly fewer dimensions
    (more than a quarter octave); where they are not, the neighbours must confirm the reading
    within a quarter octave on both sides.

    After ``fit``: ``dimension_``, ``dimension_pw_``, ``chosen_`` ("nb" or "twonn"),
    ``reliability_`` (the normal bundle's diagnostic), ``neighbours_`` (the neighbours' check as
    a dict) and ``normal_bundle_`` (its fitted estimator, whichever was chosen)."""

    def __init__(self, t0=None, sigma=None, samples=None, rule="maxgap", normal_floor=0.1,
                 points=None, seed=0, k=20):
        self._nb = dict(t0=t0, sigma=sigma, samples=samples, rule=rule,
                        normal_floor=normal_floor, points=points, seed=seed)
        self._k = k

    def fit(self, X, model=None, **kwargs):
        nb = NormalBundle(**self._nb).fit(X, model=model, **kwargs)
        self.normal_bundle_ = nb
        self.reliability_ = nb.reliability_
        reading = nb.estimate_.median_local_id
        self.neighbours_ = _native.neighbour_check(X, reading, seed=self._nb["seed"])
        key = "consistent" if nb.reliability_["trusted"] else "confirmed"
        if self.neighbours_[key]:
            chosen = nb
            self.dimension_ = reading
        else:
            chosen = TwoNN(neighbourhood=self._k).fit(X)
            self.dimension_ = chosen.dimension_
        self.chosen_ = chosen.estimate_.method
        self.estimate_ = chosen.estimate_
        self.dimension_pw_ = chosen.dimension_pw_
        self.indices_ = chosen.indices_
        return self


class Jacobian(_Estimator):
    """Singular values of the score Jacobian ∇ₓs(x, t0) at each point: the normal-bundle count
    without sampling."""

    _method = "jacobian"
    _needs_model = True

    def __init__(self, t0=None, sigma=None, rule="maxgap", normal_floor=0.1, points=None,
                 seed=0, keep_spectra=True, batch=None):
        super().__init__(t0=t0, sigma=sigma, rule=rule, normal_floor=normal_floor,
                         points=points, seed=seed, keep_spectra=keep_spectra, batch=batch)

    def _store(self, estimate):
        super()._store(estimate)
        if not self._params.get("keep_spectra", True):
            self.spectra_ = None


class FLIPD(_Estimator):
    """FLIPD (Kamkari et al. 2024): LID = D + σ(t0)²·(tr ∇s + ‖s‖²), the trace exact up to
    ``exact_max_dim`` and by ``probes`` Hutchinson probes above.

    Each point is read at 2σ too (same probes); ``reliability_["trusted"]`` is False when fewer
    than half the points move by less than ½ over that octave, that is when the reading depends
    on the noise scale more than on the data (as on images, where FLIPD counts every direction
    whose local variance exceeds about σ²). ``scale_check=False`` skips that second read (half
    the passes, no ``reliability_``)."""

    _method = "flipd"
    _needs_model = True

    def __init__(self, t0=None, sigma=None, exact_max_dim=32, probes=8, probe="rademacher",
                 derivative="jvp", scale_check=True, points=None, seed=0, batch=None):
        super().__init__(t0=t0, sigma=sigma, exact_max_dim=exact_max_dim, probes=probes,
                         probe=probe, derivative=derivative, scale_check=scale_check,
                         points=points, seed=seed, batch=batch)


class MLE(_Estimator):
    """Levina–Bickel maximum likelihood with k neighbours (MacKay–Ghahramani average)."""

    _method = "mle"

    def __init__(self, k=20):
        super().__init__(k=k)


class TwoNN(_Estimator):
    """TwoNN (Facco et al. 2017) from the ratio of the two nearest distances; ``form`` "ml" or
    "linear_fit" (discarding ``discard_fraction`` of the largest ratios); local values over
    ``neighbourhood`` neighbours."""

    _method = "twonn"

    def __init__(self, form="ml", discard_fraction=0.1, neighbourhood=20):
        super().__init__(form=form, discard_fraction=discard_fraction,
                         neighbourhood=neighbourhood)

    def _native_params(self):
        p = dict(self._params)
        p["k"] = p.pop("neighbourhood")
        return p


class LPCA(_Estimator):
    """Local PCA (Fukunaga–Olsen): eigenvalues of the covariance of each point and its k
    neighbours above ``alpha``·λ₁."""

    _method = "lpca"

    def __init__(self, k=20, alpha=0.05):
        super().__init__(k=k, alpha=alpha)


def geodesic(X, a, b, model, *, sde=None, batch_size=1024, vjp=None, dtype="float64", **options):
    """The score-pullback geodesic from ``a`` to ``b`` (row indices of ``X`` or coordinates).

    ``model`` is a ``scoregeo.Model`` or a score callable with ``sde`` (and optionally ``vjp``;
    finite differences of the callable otherwise). Options: ``nodes`` (32), ``t0`` or ``sigma``,
    ``lam`` (λ, 1e-3), ``score_scale``, ``max_iters``, ``tolerance``, ``neighbours``,
    ``init`` ("graph": the shortest path in the k-NN graph of ``X``; "line"). Returns a
    ``scoregeo.Geodesic`` (``path``, ``length``, ``energy``, ``converged``)."""
    if callable(model) and not isinstance(model, Model):
        dim = None
        if X is not None and getattr(X, "ndim", 0) == 2:
            dim = X.shape[1]
        else:
            import numpy as np

            dim = np.asarray(a).reshape(-1).shape[0]
        model = score_function(model, int(dim), sde=sde, batch_size=batch_size, vjp=vjp,
                               dtype=dtype)
    else:
        model = _as_model(model, X, sde, batch_size, vjp, dtype)
    return _native.geodesic(X, a, b, model=model, **options)

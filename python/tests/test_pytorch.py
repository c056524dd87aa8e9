"""The PyTorch recipe (scoregeo.pytorch) on torch modules with known scores; skipped without
torch (CI does not install it)."""

import numpy as np
import pytest

import scoregeo
from conftest import subspace_gaussian

torch = pytest.importorskip("torch")
import scoregeo.pytorch  # noqa: E402  (needs torch)


class SubspaceGaussianNet(torch.nn.Module):
    """The exact network output for x₀ ~ N(0, QQᵀ) under `sde`, in a chosen parameterisation,
    conditioned on `time_input` (decoded back to t inside)."""

    def __init__(self, q, sde, prediction, decode_time):
        super().__init__()
        # float64: a float32-rounded projector leaks O(1e-7/σ²) into the normal part
        self.register_buffer("p", torch.tensor(q @ q.T, dtype=torch.float64))
        self.sde, self.prediction, self.decode_time = sde, prediction, decode_time

    def forward(self, x, tin):
        t = self.decode_time(float(tin[0]))
        alpha, sigma = self.sde.marginal(t)
        xp = x @ self.p
        s = -(xp / (alpha**2 + sigma**2) + (x - xp) / sigma**2)
        return {"noise": -sigma * s, "score": s, "scaled_score": sigma * s,
                "data": (x + sigma**2 * s) / alpha}[self.prediction]


def ve_sigma_inverse(sde, s):
    lo, hi = sde.sigma(0.0), sde.sigma(1.0)
    return float(np.log(s / lo) / np.log(hi / lo))


@pytest.mark.parametrize("prediction", ["noise", "score", "scaled_score", "data"])
@pytest.mark.parametrize("kind", ["ve", "vp"])
def test_recipe_reads_the_exact_dimension(prediction, kind):
    sde = (scoregeo.VE(sigma_min=0.01, sigma_max=5.0) if kind == "ve"
           else scoregeo.VP(beta_min=0.1, beta_max=20.0))
    exact, q = subspace_gaussian(12, 4, sde, seed=1)
    if kind == "ve":
        time_input, decode = "sigma", lambda s: ve_sigma_inverse(sde, s)
    else:
        time_input, decode = "999t", lambda s: s / 999.0
    net = SubspaceGaussianNet(q, sde, prediction, decode)
    score, vjp = scoregeo.pytorch.score_callable(net, sde, prediction=prediction,
                                                 time_input=time_input, dtype=torch.float64)
    X = np.random.default_rng(2).standard_normal((40, 4)) @ q.T
    np.testing.assert_allclose(score(X, 0.01), exact(X, 0.01), rtol=1e-6)
    v = np.random.default_rng(3).standard_normal(X.shape)
    # the score is linear with a symmetric Jacobian, so vᵀ∇s = s(v) for this oracle
    np.testing.assert_allclose(vjp(X, 0.01, v), exact(v, 0.01), rtol=1e-6)
    est = scoregeo.NormalBundle().fit(X, model=score, sde=sde)
    assert np.all(est.dimension_pw_ == 4.0)


def test_a_small_trained_network_finds_a_circle():
    # ε-prediction MLP trained by denoising score matching (VP) on the unit circle in ℝ²
    torch.manual_seed(0)
    sde = scoregeo.VP(beta_min=0.1, beta_max=20.0)
    net = TimeMlp(2)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    angles = torch.rand(4096) * 2 * np.pi
    data = torch.stack([angles.cos(), angles.sin()], 1)
    for _ in range(1500):
        x0 = data[torch.randint(0, len(data), (256,))]
        t = torch.rand(256) * (1 - 1e-3) + 1e-3
        ab = [sde.marginal(float(s)) for s in t]
        alpha = torch.tensor([a for a, _ in ab]).unsqueeze(1)
        sigma = torch.tensor([s for _, s in ab]).unsqueeze(1)
        eps = torch.randn_like(x0)
        loss = ((net(alpha * x0 + sigma * eps, t) - eps) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    score, _ = scoregeo.pytorch.score_callable(net, sde, prediction="noise")
    X = data[:50].numpy().astype(np.float64)
    est = scoregeo.NormalBundle(t0=0.01).fit(X, model=score, sde=sde)
    assert np.median(est.dimension_pw_) == 1.0


class TimeMlp(torch.nn.Module):
    """A small time-conditioned MLP (t enters as an extra input)."""

    def __init__(self, dim, hidden=64):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(dim + 1, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, dim),
        )

    def forward(self, x, t):
        return self.body(torch.cat([x, t.unsqueeze(1)], 1))

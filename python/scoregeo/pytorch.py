"""A PyTorch diffusion network as a scoregeo score callable (torch is imported only here).

The network is called as ``net(x, time_input)`` with ``x`` a float tensor of shape (B, D) and
``time_input`` a tensor of shape (B,); what it returns is turned into a score
s(x, t) = ∇ₓ log p_t(x) under the SDE it was trained with:

- ``prediction="noise"``: ε̂ with x_t = α(t)·x₀ + σ(t)·ε, so s = −ε̂/σ(t) (DDPM / VP and NCSN-style
  ε-networks);
- ``"score"``: the score itself; ``"scaled_score"``: σ(t)·s (so s = out/σ(t));
- ``"data"``: the denoised x̂₀, so s = (α(t)·x̂₀ − x)/σ(t)².

``time_input`` says what the network was conditioned on: ``"t"`` (t ∈ [0, 1]), ``"999t"``
(the integer-step convention of DDPM code), ``"sigma"`` (σ(t), as EDM / NCSN) or any
function of the float t returning a float.

    import scoregeo, scoregeo.pytorch
    sde = scoregeo.VP(beta_min=0.1, beta_max=20.0)
    score, vjp = scoregeo.pytorch.score_callable(net, sde, prediction="noise", time_input="999t")
    est = scoregeo.NormalBundle().fit(X, model=score, sde=sde, batch_size=4096)
    g = scoregeo.geodesic(X, 0, 1, model=score, sde=sde, vjp=vjp)
"""

import numpy as np
import torch

_PREDICTIONS = ("noise", "score", "scaled_score", "data")


def _time_map(time_input, sde):
    if callable(time_input):
        return time_input
    if time_input == "t":
        return lambda t: t
    if time_input == "999t":
        return lambda t: 999.0 * t
    if time_input == "sigma":
        return sde.sigma
    raise ValueError(f"`time_input` = {time_input!r}: expected 't', '999t', 'sigma' or a function")


def score_callable(net, sde, *, prediction="noise", time_input="t", device=None,
                   dtype=torch.float32):
    """``(score, vjp)``: numpy callables ``score(x, t)`` and ``vjp(x, t, v) = vᵀ∇ₓs`` of the
    torch module ``net`` for scoregeo (``model=score, sde=sde``; ``vjp`` for geodesics and
    FLIPD's ``derivative="autodiff"``). The network runs in eval mode on ``device`` (its own by
    default) in ``dtype``; scores come back as float64."""
    if prediction not in _PREDICTIONS:
        raise ValueError(f"`prediction` = {prediction!r}: expected one of {_PREDICTIONS}")
    if device is None:
        # the module's own device: of its first parameter or buffer (the CPU for neither)
        first = next(iter(list(net.parameters()) + list(net.buffers())), None)
        device = first.device if first is not None else torch.device("cpu")
    net.eval()
    time_of = _time_map(time_input, sde)

    def torch_score(x, t):
        alpha, sigma = sde.marginal(t)
        tin = torch.full((x.shape[0],), float(time_of(t)), device=device, dtype=dtype)
        out = net(x, tin)
        if prediction == "noise":
            return -out / sigma
        if prediction == "scaled_score":
            return out / sigma
        if prediction == "data":
            return (alpha * out - x) / sigma**2
        return out

    def score(x, t):
        with torch.no_grad():
            xt = torch.as_tensor(x, device=device, dtype=dtype)
            return torch_score(xt, t).detach().cpu().numpy().astype(np.float64)

    def vjp(x, t, v):
        xt = torch.as_tensor(x, device=device, dtype=dtype).requires_grad_(True)
        vt = torch.as_tensor(v, device=device, dtype=dtype)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(torch_score(xt, t), xt, grad_outputs=vt)
        return grad.detach().cpu().numpy().astype(np.float64)

    return score, vjp

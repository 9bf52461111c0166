"""Spectral normalisation in training loops: spectra.torch.spectral_norm against PyTorch's, in the same run.

- ``CertifiedTraining``: a 1000-step loop (a small MLP critic trained with Adam on synthetic data); at every
  step the normalised weights actually used in the forward are checked by LAPACK: the fraction of
  (step, layer) pairs with ``||W / sigma||_2 > 1`` (goal: 0 for spectra) and the tightness
  ``mean(||W||_2 / sigma)`` (goal >= 0.98);
- ``ForwardBackward``: time of one forward+backward (and of one optimiser step, which includes spectra's
  amortised refreshes) on Linear(1024, 1024) and Conv2d(64, 64, 3) on 32 x 32 inputs;
- ``ConvNorms``: the operator norm of a convolution against the reshaped-kernel norm PyTorch normalises by and
  the Gram-iteration bound of lip4conv (:func:`gram_iteration_conv_bound`).

Skipped (NotImplementedError, as asv expects) when torch is not installed.
"""

from __future__ import annotations

import time

import numpy as np

from .common import SMALL, has

STEPS = 50 if SMALL else 1000
IMPLS = ["pytorch", "spectra"]


def _torch():
    if not has("torch"):
        raise NotImplementedError("torch is not installed")
    import torch

    return torch


def normalise(impl: str, module, **kwargs):
    torch = _torch()
    if impl == "pytorch":
        return torch.nn.utils.parametrizations.spectral_norm(module)
    if impl == "spectra":
        import spectra.torch as st

        return st.spectral_norm(module, **kwargs)
    return module


def training_run(impl: str, steps: int = STEPS, seed: int = 0, width: int = 64, lr: float = 1e-3) -> dict:
    """A critic ``R^16 -> R`` (three normalised Linear layers) trained with Adam to separate two Gaussians.

    Returns per-step true norms of the normalised weights (LAPACK, float64) and the refresh count.
    """
    torch = _torch()
    from torch.nn.utils import parametrize

    torch.manual_seed(seed)
    nn = torch.nn
    layers = [normalise(impl, nn.Linear(a, b)) for a, b in [(16, width), (width, width), (width, 1)]]
    net = nn.Sequential(layers[0], nn.LeakyReLU(0.2), layers[1], nn.LeakyReLU(0.2), layers[2])
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.5, 0.9))
    gen = torch.Generator().manual_seed(seed + 1)
    norms = np.zeros((steps, len(layers)))
    start = time.perf_counter()
    for step in range(steps):
        real = torch.randn(64, 16, generator=gen) + 1.0
        fake = torch.randn(64, 16, generator=gen) * 1.5
        with parametrize.cached():  # the weights used by this step's forward, computed once
            loss = net(fake).mean() - net(real).mean()  # a WGAN-style critic loss
            for i, layer in enumerate(layers):
                W = layer.weight.detach().double().numpy()
                norms[step, i] = np.linalg.norm(W, 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    elapsed = time.perf_counter() - start
    refreshes = sum(layer.parametrizations.weight[0].refreshes for layer in layers) if impl == "spectra" else 0
    return {"norms": norms, "refreshes": refreshes, "seconds": elapsed}


class CertifiedTraining:
    params = IMPLS
    param_names = ["impl"]
    timeout = 1800

    def setup_cache(self):
        return {impl: training_run(impl) for impl in IMPLS}

    def track_fraction_over_one(self, runs, impl):
        return float(np.mean(runs[impl]["norms"] > 1.0))

    def track_tightness(self, runs, impl):
        """mean(true sigma / sigma divided by) = mean ||W / sigma||_2 (> 1 where sigma under-estimates)."""
        return float(np.mean(runs[impl]["norms"]))

    def track_worst_norm(self, runs, impl):
        return float(np.max(runs[impl]["norms"]))

    def track_refreshes(self, runs, impl):
        return float(runs[impl]["refreshes"])


LAYERS = {
    "linear1024": ((64, 64), (8, 64)) if SMALL else ((1024, 1024), (64, 1024)),
    "conv64": ((4, 4, 3), (4, 4, 8, 8)) if SMALL else ((64, 64, 3), (16, 64, 32, 32)),
}


def make_layer(kind: str, impl: str):
    torch = _torch()
    shape, x_shape = LAYERS[kind]
    torch.manual_seed(0)
    if kind.startswith("linear"):
        layer = torch.nn.Linear(*shape)
        kwargs = {}
    else:
        layer = torch.nn.Conv2d(*shape, padding=1)
        kwargs = {"input_shape": x_shape[1:]}
    layer = normalise(impl, layer, **kwargs) if impl != "none" else layer
    return layer, torch.randn(x_shape, generator=torch.Generator().manual_seed(1))


class ForwardBackward:
    params = (["none", *IMPLS], list(LAYERS))
    param_names = ["impl", "layer"]
    timeout = 600

    def setup(self, impl, kind):
        torch = _torch()
        self.layer, self.x = make_layer(kind, impl)
        self.opt = torch.optim.SGD(self.layer.parameters(), lr=1e-4)
        self.layer(self.x).sum().backward()  # warm up

    def time_forward_backward(self, impl, kind):
        self.layer(self.x).sum().backward()

    def time_sgd_step(self, impl, kind):
        """forward + backward + an SGD step (lr 1e-4): includes spectra's amortised refreshes."""
        self.opt.zero_grad()
        self.layer(self.x).sum().backward()
        self.opt.step()


def gram_iteration_conv_bound(weight, grid: tuple[int, int], n_iter: int = 6) -> float:
    """The Gram-iteration bound of Delattre, Barthelemy, Araujo & Allauzen (ICML 2023, "lip4conv") for the
    circular convolution on ``grid``, written from the paper's formula: with ``K_f`` the ``c_out x c_in``
    matrix of frequency ``f`` (a 2-D DFT of the zero-padded kernel), ``G^(0) = K``, ``G^(t+1)_f = G^(t)_f^H
    G^(t)_f``, ``||conv||_2 <= ||G^(t)||_F^(1/2^t)`` (Frobenius over all frequencies), each step rescaled by
    its Frobenius norm (kept as a logarithm) so nothing overflows. A peer: no rounding analysis.
    """
    torch = _torch()
    K = torch.fft.fft2(weight.double(), s=grid).permute(2, 3, 0, 1)  # (n1, n2, c_out, c_in)
    log_scale = 0.0
    for _ in range(n_iter):
        r = torch.linalg.vector_norm(K)
        K = K / r
        log_scale = 2.0 * (log_scale + float(torch.log(r)))
        K = K.mH @ K
    return float(torch.linalg.vector_norm(K) ** (1.0 / 2**n_iter) * np.exp(log_scale / 2**n_iter))


class ConvNorms:
    """Conv2d(64, 64, 3, padding=1) on 32 x 32 (PyTorch's default init): operator norm vs the reshaped kernel
    PyTorch normalises by, and vs the Gram-iteration bound (lip4conv) on the circulant (zero padding: on the
    padded 34 x 34 grid, the same circular embedding as ``conv_norm``'s bound)."""

    params = ["zeros", "circular"]
    param_names = ["padding_mode"]
    timeout = 600

    def setup(self, mode):
        torch = _torch()
        torch.manual_seed(0)
        c, n = (8, 8) if SMALL else (64, 32)
        self.shape = (n, n)
        self.w = torch.nn.Conv2d(c, c, 3, padding=1, padding_mode=mode).weight.detach().double()
        self.mode = mode

    def _norm(self, method="auto"):
        import spectra

        return spectra.conv_norm(self.w, self.shape, padding=1, padding_mode=self.mode, method=method, seed=0)

    def track_operator_norm(self, mode):
        return float(self._norm().lower)

    def track_embedding_bound(self, mode):
        return float(self._norm("fft").upper)

    def track_kernel_norm(self, mode):
        torch = _torch()
        return float(torch.linalg.matrix_norm(self.w.reshape(self.w.shape[0], -1), 2))

    def track_operator_over_kernel(self, mode):
        return self.track_operator_norm(mode) / self.track_kernel_norm(mode)

    def _gram_grid(self):
        return self.shape if self.mode == "circular" else tuple(n + 2 for n in self.shape)

    def track_gram_iteration_bound(self, mode):
        return gram_iteration_conv_bound(self.w, self._gram_grid())

    def track_gram_over_operator(self, mode):
        return self.track_gram_iteration_bound(mode) / self.track_operator_norm(mode)

    def time_conv_norm_fft(self, mode):
        self._norm("fft")

    def time_gram_iteration(self, mode):
        gram_iteration_conv_bound(self.w, self._gram_grid())

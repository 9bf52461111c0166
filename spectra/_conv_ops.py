"""Products with a convolution layer and its adjoint, as ``V ∘ P`` (see :mod:`spectra._conv_geometry`).

Two implementations of the same two products, chosen by the weight's type:

- :class:`NumpyConv`: the valid correlation as one batched matrix product per kernel tap (NumPy, float64);
- :class:`TorchConv`: ``torch.nn.functional.conv{1,2,3}d`` and ``conv_transpose{1,2,3}d`` on the weight's
  device and dtype (torch is imported only when a torch weight is passed).

The padding ``P`` and its adjoint ``Pᵀ`` are the small per-axis 0/1 matrices applied along each axis, which
covers every padding mode with one code path.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.sparse.linalg import LinearOperator

from ._conv_geometry import ConvGeometry

__all__ = ["NumpyConv", "TorchConv", "conv_operator", "is_torch"]


def is_torch(x: Any) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class _Conv:
    """Shared: padding along each axis, and the flattened LinearOperator."""

    geom: ConvGeometry

    def _along_axes(self, x, mats):
        # x: (B, C, *spatial); apply mats[a] (rows x cols) along spatial axis a
        for a, P in enumerate(mats):
            x = self._apply_axis(P, x, 2 + a)
        return x

    def pad(self, x):
        return x if self._no_pad else self._along_axes(x, self._P)

    def unpad(self, x):
        return x if self._no_pad else self._along_axes(x, self._PT)

    def as_linear_operator(self) -> LinearOperator:
        """The layer on flattened float64 vectors ``(c_in · prod(spatial),) -> (c_out · prod(out),)``."""
        g = self.geom

        def flat(f, X, shape_in, n_out):
            # columns of X are flattened images of shape_in; the result's columns have n_out entries
            X = np.asarray(X, dtype=np.float64).reshape(math.prod(shape_in), -1)
            k = X.shape[1]
            y = self.to_numpy(f(self.from_numpy(np.ascontiguousarray(X.T).reshape((k, *shape_in)))))
            return y.reshape(k, n_out).T

        def matmat(X):
            return flat(self.forward, X, (g.c_in, *g.spatial), g.n_out)

        def rmatmat(Y):
            return flat(self.adjoint, Y, (g.c_out, *g.out), g.n_in)

        return LinearOperator(
            (g.n_out, g.n_in),
            matvec=lambda x: matmat(x)[:, 0],
            rmatvec=lambda y: rmatmat(y)[:, 0],
            matmat=matmat,
            rmatmat=rmatmat,
            dtype=np.float64,
        )


class NumpyConv(_Conv):
    """The layer with weight ``w`` (NumPy, any real dtype, used in float64) on batches ``(B, c_in, *spatial)``."""

    def __init__(self, weight, geom: ConvGeometry):
        self.geom = geom
        w = np.asarray(weight, dtype=np.float64)
        G = geom.groups
        co, ci = geom.c_out // G, geom.c_in // G
        # taps[j] = (G, co, ci) block of kernel tap j
        self._taps = [(j, w[(slice(None), slice(None), *j)].reshape(G, co, ci)) for j in np.ndindex(*geom.kernel)]
        self._P = geom.pad_matrices()
        self._PT = [P.T for P in self._P]
        self._no_pad = all(lo == hi == 0 for lo, hi in geom.pad)

    @staticmethod
    def _apply_axis(P, x, axis):
        return np.moveaxis(np.tensordot(P, x, axes=([1], [axis])), 0, axis)

    @staticmethod
    def from_numpy(x):
        return x

    @staticmethod
    def to_numpy(x):
        return x

    def _window(self, j):
        g = self.geom
        return (
            Ellipsis,
            *(
                slice(jj * dl, jj * dl + s * (o - 1) + 1, s)
                for jj, dl, s, o in zip(j, g.dilation, g.stride, g.out, strict=True)
            ),
        )

    def forward(self, x):
        g = self.geom
        B = x.shape[0]
        G = g.groups
        xp = self.pad(np.asarray(x, dtype=np.float64))
        npos = int(np.prod(g.out))
        y = np.zeros((B, G, g.c_out // G, npos))
        for j, tap in self._taps:
            win = xp[self._window(j)].reshape(B, G, g.c_in // G, npos)
            y += np.matmul(tap, win)
        return y.reshape((B, g.c_out, *g.out))

    def adjoint(self, y):
        g = self.geom
        B = y.shape[0]
        G = g.groups
        npos = int(np.prod(g.out))
        yy = np.asarray(y, dtype=np.float64).reshape(B, G, g.c_out // G, npos)
        xp = np.zeros((B, g.c_in, *g.padded))
        for j, tap in self._taps:
            contrib = np.matmul(np.swapaxes(tap, -1, -2), yy).reshape((B, g.c_in, *g.out))
            xp[self._window(j)] += contrib
        return self.unpad(xp)


class TorchConv(_Conv):
    """The layer through ``torch.nn.functional`` on the weight's device and dtype."""

    def __init__(self, weight, geom: ConvGeometry):
        import torch
        import torch.nn.functional as F

        self.geom = geom
        self.torch = torch
        self.weight = weight
        d = geom.ndim
        self._conv = getattr(F, f"conv{d}d")
        self._conv_t = getattr(F, f"conv_transpose{d}d")
        self._native = geom.mode == "zeros" and all(lo == hi for lo, hi in geom.pad)
        self._no_pad = self._native
        kw = dict(device=weight.device, dtype=weight.dtype)
        self._P = [torch.as_tensor(P, **kw) for P in geom.pad_matrices()]
        self._PT = [P.T.contiguous() for P in self._P]
        self._padding = tuple(lo for lo, _ in geom.pad) if self._native else 0
        L = geom.spatial if self._native else geom.padded
        lo_sum = [2 * lo for lo, _ in geom.pad] if self._native else [0] * d
        self._output_padding = tuple(
            Ln + extra - ((o - 1) * s + dl * (k - 1) + 1)
            for Ln, extra, o, s, dl, k in zip(L, lo_sum, geom.out, geom.stride, geom.dilation, geom.kernel, strict=True)
        )

    def _apply_axis(self, P, x, axis):
        return self.torch.movedim(self.torch.tensordot(P, x, dims=([1], [axis])), 0, axis)

    def from_numpy(self, x):
        return self.torch.as_tensor(x, device=self.weight.device, dtype=self.weight.dtype)

    @staticmethod
    def to_numpy(x):
        from ._host_view import tensor_to_numpy

        return tensor_to_numpy(x).astype(np.float64, copy=False)

    def forward(self, x, weight=None):
        """The layer applied to ``x`` (autograd flows through ``weight`` when it is given)."""
        g = self.geom
        w = self.weight if weight is None else weight
        return self._conv(self.pad(x), w, stride=g.stride, padding=self._padding, dilation=g.dilation, groups=g.groups)

    def adjoint(self, y, weight=None):
        g = self.geom
        x = self._conv_t(
            y,
            self.weight if weight is None else weight,
            stride=g.stride,
            padding=self._padding,
            output_padding=self._output_padding,
            groups=g.groups,
            dilation=g.dilation,
        )
        return self.unpad(x)

    def weight_grad(self, u, v):
        """``∂/∂W <u, conv_W(v)>``: a tensor of the weight's shape (``<u, conv_W(v)>`` is linear in ``W``)."""
        g = self.geom
        d = g.ndim
        padding = self._padding if self._native else (0,) * d
        proxy = u.new_empty(1).expand(self.weight.shape)
        return self.torch.ops.aten.convolution_backward(
            u, self.pad(v), proxy, None, g.stride, padding, g.dilation, False, [0] * d, g.groups, (False, True, False)
        )[1]


def conv_operator(weight, geom: ConvGeometry, *, float64: bool = False):
    """:class:`TorchConv` for a torch weight (converted to float64 if asked), :class:`NumpyConv` otherwise."""
    if is_torch(weight):
        w = weight.detach()
        if float64:
            w = w.double()
        return TorchConv(w, geom)
    return NumpyConv(weight, geom)

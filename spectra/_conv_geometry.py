"""Geometry of a convolution layer (PyTorch's ``ConvNd`` conventions) and its padding as a matrix.

A layer ``y = conv(x)`` with ``x`` of shape ``(c_in, *spatial)`` is the composition ``V ∘ P`` of

- ``P = P_1 ⊗ ... ⊗ P_d``: the padding, one ``(n_a + lo_a + hi_a) × n_a`` 0/1 matrix per spatial axis
  (zeros, circular, reflect or replicate: each row copies one input entry or is zero);
- ``V``: the *valid* (unpadded) strided, dilated, grouped cross-correlation on the padded input.

``||P_a||_2 = sqrt(max column count)`` exactly, since ``P_aᵀ P_a`` is diagonal with the column counts.
Nothing here imports an array library other than NumPy.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

__all__ = [
    "PADDING_MODES",
    "ConvGeometry",
    "conv_geometry",
    "pad_matrix",
    "transposed_input_shape",
    "transposed_output_padding",
    "transposed_padding",
]

PADDING_MODES = ("zeros", "circular", "reflect", "replicate")


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of one convolution layer; every tuple has one entry per spatial axis."""

    c_out: int
    c_in: int
    groups: int
    kernel: tuple[int, ...]
    spatial: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    pad: tuple[tuple[int, int], ...]
    mode: str

    @property
    def ndim(self) -> int:
        return len(self.kernel)

    @property
    def padded(self) -> tuple[int, ...]:
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.spatial, self.pad, strict=True))

    @property
    def out(self) -> tuple[int, ...]:
        return tuple(
            (L - d * (k - 1) - 1) // s + 1
            for L, d, k, s in zip(self.padded, self.dilation, self.kernel, self.stride, strict=True)
        )

    @property
    def n_in(self) -> int:
        return self.c_in * math.prod(self.spatial)

    @property
    def n_out(self) -> int:
        return self.c_out * math.prod(self.out)

    def pad_matrices(self) -> list[np.ndarray]:
        return [pad_matrix(n, lo, hi, self.mode) for n, (lo, hi) in zip(self.spatial, self.pad, strict=True)]

    def pad_norm(self) -> float:
        """``||P||_2`` exactly: the square root of the largest number of copies of one input entry."""
        counts = [int(P.sum(axis=0).max()) for P in self.pad_matrices()]
        return math.sqrt(math.prod(counts))

    def circular_row_multiplicity(self) -> int:
        """For circular padding: how often one row of the circulant on the input grid is repeated in the layer."""
        mult = 1
        for n, s, o in zip(self.spatial, self.stride, self.out, strict=True):
            mult *= int(np.bincount((np.arange(o) * s) % n, minlength=n).max())
        return mult

    @property
    def circular_exact(self) -> bool:
        """Circular padding, stride 1 and output shape equal to the input shape: the layer IS a circulant."""
        return self.mode == "circular" and all(s == 1 for s in self.stride) and self.out == self.spatial


def _tuple(name: str, value, d: int) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (int(value),) * d
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of {d} ints, got {value!r}") from None
    if len(out) != d:
        raise ValueError(f"{name} must have {d} entries (one per spatial axis), got {value!r}")
    return out


def _padding(padding, d: int, kernel, dilation, stride) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * d
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError("padding='same' needs stride=1 (as in PyTorch)")
            total = [dl * (k - 1) for dl, k in zip(dilation, kernel, strict=True)]
            return tuple((t // 2, t - t // 2) for t in total)
        raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same'; got {padding!r}")
    if isinstance(padding, (tuple, list)) and padding and all(isinstance(p, (tuple, list)) for p in padding):
        if len(padding) != d:
            raise ValueError(f"padding must give (before, after) for each of the {d} spatial axes, got {padding!r}")
        return tuple((int(a), int(b)) for a, b in padding)
    sym = _tuple("padding", padding, d)
    return tuple((p, p) for p in sym)


def _spatial(input_shape, d: int, c_in: int) -> tuple[int, ...]:
    """The spatial part of ``input_shape`` given as ``spatial``, ``(c_in, *spatial)`` or ``(batch, c_in, *spatial)``."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == d + 2:
        shape = shape[1:]
    if len(shape) == d + 1:
        if shape[0] != c_in:
            raise ValueError(f"input_shape {tuple(input_shape)} has {shape[0]} channels; the weight takes {c_in}")
        shape = shape[1:]
    if len(shape) != d:
        raise ValueError(
            f"input_shape must be the spatial shape ({d} ints), (c_in, *spatial) or (batch, c_in, *spatial); "
            f"got {tuple(input_shape)}"
        )
    return shape


def conv_geometry(
    weight_shape,
    input_shape,
    *,
    stride=1,
    padding=0,
    padding_mode="zeros",
    dilation=1,
    groups=1,
    crop: bool = False,
) -> ConvGeometry:
    """Validate the arguments of a convolution layer; errors name the parameter.

    ``weight_shape`` is ``(c_out, c_in / groups, *kernel)`` with 1, 2 or 3 spatial axes. ``input_shape`` is
    the spatial shape, or ``(c_in, *spatial)``, or ``(batch, c_in, *spatial)`` (the batch is ignored).
    ``crop=True`` (zero padding only) admits a negative after-padding, which crops the end of the input: the
    adjoint of a ``ConvTransposeNd`` with ``output_padding >= stride`` (:func:`transposed_padding`).
    """
    weight_shape = tuple(int(s) for s in weight_shape)
    d = len(weight_shape) - 2
    if d not in (1, 2, 3):
        raise ValueError(
            f"weight must have shape (c_out, c_in / groups, *kernel) with 1 to 3 spatial axes, got {weight_shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    c_out, c_in_g, kernel = weight_shape[0], weight_shape[1], weight_shape[2:]
    if c_out % groups:
        raise ValueError(f"groups={groups} must divide the output channels {c_out}")
    c_in = c_in_g * groups
    shape = _spatial(input_shape, d, c_in)
    if any(s < 1 for s in shape) or any(k < 1 for k in kernel) or c_out < 1 or c_in_g < 1:
        raise ValueError(f"empty layer: weight {weight_shape}, input {shape}")
    stride = _tuple("stride", stride, d)
    dilation = _tuple("dilation", dilation, d)
    if any(s < 1 for s in stride) or any(x < 1 for x in dilation):
        raise ValueError(f"stride and dilation must be positive, got {stride} and {dilation}")
    pad = _padding(padding, d, kernel, dilation, stride)
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}; got {padding_mode!r}")
    for n, (lo, hi) in zip(shape, pad, strict=True):
        if lo < 0 or (hi < 0 and not (crop and padding_mode == "zeros" and lo + n + hi >= 1)):
            raise ValueError(f"padding must be non-negative, got {pad}")
        if padding_mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"padding_mode='reflect' needs padding < input size, got padding {pad} for {shape}")
        if padding_mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"padding_mode='circular' needs padding <= input size, got padding {pad} for {shape}")
    geom = ConvGeometry(c_out, c_in, int(groups), kernel, shape, stride, dilation, pad, padding_mode)
    if any(o < 1 for o in geom.out):
        raise ValueError(f"the kernel (dilated) is larger than the padded input {geom.padded}: no output")
    return geom


def transposed_input_shape(
    weight_shape, input_shape, *, stride=1, padding=0, dilation=1, groups=1, output_padding=0
) -> tuple[int, ...]:
    """``(c, *spatial)`` on which the convolution with the same arguments is the adjoint of ``ConvTransposeNd``.

    ``ConvTransposeNd`` with weight ``(c_in, c_out / groups, *kernel)`` maps ``(c_in, *n)`` to ``(c_out, *L)``,
    ``L = (n - 1) s - 2 p + d (k - 1) + output_padding + 1``; it is by definition the adjoint (the input
    gradient) of ``ConvNd`` with the same weight and arguments on inputs ``(c_out, *L)``, restricted to its
    first ``n`` outputs (all of them when ``output_padding < stride``; :func:`transposed_padding` gives the
    padding of that restriction). Both have the same operator norm.

    Examples
    --------
    >>> transposed_input_shape((3, 2, 3, 3), (3, 5, 5), stride=2, padding=1, output_padding=1)
    (2, 10, 10)
    """
    weight_shape = tuple(int(s) for s in weight_shape)
    d = len(weight_shape) - 2
    if d not in (1, 2, 3):
        raise ValueError(
            f"weight must have shape (c_in, c_out / groups, *kernel) with 1 to 3 spatial axes, got {weight_shape}"
        )
    if isinstance(padding, str):
        raise ValueError(f"a transposed convolution takes int or tuple padding, got {padding!r}")
    shape = _spatial(input_shape, d, weight_shape[0])
    s, p, dl, op = (
        _tuple(n, v, d)
        for n, v in [
            ("stride", stride),
            ("padding", padding),
            ("dilation", dilation),
            ("output_padding", output_padding),
        ]
    )
    if any(o < 0 for o in op):
        raise ValueError(f"output_padding must be non-negative, got {op}")
    if any(o >= max(st, dd) for o, st, dd in zip(op, s, dl, strict=True)):
        raise ValueError(
            f"output_padding {op} must be smaller than either the stride {s} or the dilation {dl} on each axis "
            "(as in PyTorch)"
        )
    k = weight_shape[2:]
    L = tuple(
        (n - 1) * st - 2 * pp + dd * (kk - 1) + o + 1
        for n, st, pp, dd, kk, o in zip(shape, s, p, dl, k, op, strict=True)
    )
    if any(x < 1 for x in L):
        raise ValueError(f"the transposed convolution has no output for input {shape}: output shape {L}")
    return (weight_shape[1] * int(groups), *L)


def transposed_padding(d: int, padding, stride, output_padding) -> tuple[tuple[int, int], ...]:
    """``(before, after)`` padding per axis of the convolution whose adjoint is ``ConvTransposeNd``, on the input
    shape :func:`transposed_input_shape` gives.

    ``ConvTransposeNd`` is the adjoint of the convolution with the same arguments **restricted to its first**
    ``n`` **outputs**. With ``output_padding < stride`` that convolution has exactly ``n`` outputs (padding
    ``p`` on both sides). PyTorch also takes ``stride <= output_padding < dilation``; the convolution then has
    more than ``n`` outputs, and the first ``n`` of them read the padded input only up to
    ``(n - 1) s + d (k - 1)``: they are the convolution with the after-padding ``p - output_padding``, where a
    negative value crops that many entries off the end of the input (entries no output reads: zero columns of
    the operator, which do not change its norm).

    Examples
    --------
    >>> transposed_padding(2, (1, 0), (2, 1), 1)
    ((1, 1), (0, -1))
    """
    p, s, op = (
        _tuple(n, v, d) for n, v in [("padding", padding), ("stride", stride), ("output_padding", output_padding)]
    )
    return tuple((pp, pp - o if o >= st else pp) for pp, st, o in zip(p, s, op, strict=True))


def transposed_output_padding(
    weight_shape, input_shape, output_size, *, stride=1, padding=0, dilation=1
) -> tuple[int, ...]:
    """The ``output_padding`` with which ``ConvTransposeNd`` called with ``output_size=`` computes its output.

    PyTorch's rule (``torch.nn.modules.conv._ConvTransposeNd._output_padding``): the spatial sizes of
    ``output_size`` (its last ``d`` entries) must lie between ``L_min = (n - 1) s - 2 p + d (k - 1) + 1`` and
    ``L_min + s - 1``; the padding is ``output_size - L_min``, and the module's own ``output_padding`` is then
    not used.

    Raises
    ------
    ValueError
        ``output_size`` has fewer than ``d`` entries, or a size outside ``[L_min, L_min + s - 1]``.

    Examples
    --------
    >>> transposed_output_padding((3, 2, 3, 3), (3, 5, 5), (10, 9), stride=2, padding=1)
    (1, 0)
    """
    weight_shape = tuple(int(s) for s in weight_shape)
    d = len(weight_shape) - 2
    shape = _spatial(input_shape, d, weight_shape[0])
    size = tuple(int(v) for v in tuple(output_size)[-d:])
    if len(size) != d:
        raise ValueError(f"output_size must give the {d} spatial sizes of the output, got {tuple(output_size)}")
    s, p, dl = (_tuple(n, v, d) for n, v in [("stride", stride), ("padding", padding), ("dilation", dilation)])
    low = tuple(
        (n - 1) * st - 2 * pp + dd * (kk - 1) + 1
        for n, st, pp, dd, kk in zip(shape, s, p, dl, weight_shape[2:], strict=True)
    )
    high = tuple(lo + st - 1 for lo, st in zip(low, s, strict=True))
    if any(not lo <= v <= hi for v, lo, hi in zip(size, low, high, strict=True)):
        raise ValueError(
            f"requested an output size of {size}, but valid sizes range from {low} to {high} (for an input of {shape})"
        )
    return tuple(v - lo for v, lo in zip(size, low, strict=True))


def pad_matrix(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """The ``(n + lo + hi) × n`` 0/1 matrix of one axis of PyTorch's padding ``mode``.

    Examples
    --------
    >>> pad_matrix(3, 1, 1, "reflect").astype(int).tolist()
    [[0, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]]
    """
    r = np.arange(-lo, n + hi)
    if mode == "zeros":
        src = np.where((r >= 0) & (r < n), r, -1)
    elif mode == "circular":
        src = r % n
    elif mode == "reflect":
        src = np.where(r < 0, -r, np.where(r >= n, 2 * (n - 1) - r, r))
    elif mode == "replicate":
        src = np.clip(r, 0, n - 1)
    else:
        raise ValueError(f"padding_mode must be one of {', '.join(map(repr, PADDING_MODES))}; got {mode!r}")
    P = np.zeros((r.size, n))
    rows = np.flatnonzero(src >= 0)
    P[rows, src[rows]] = 1.0
    return P

"""The plan of a :func:`spectra.conv_norm` result: which bound certified the interval, and why.

:func:`spectra.conv_norm` reaches its interval by one of four routes (module docstring of
:mod:`spectra._conv`): the exact DFT block-diagonalisation, the layer materialised and given to LAPACK,
the deterministic circular-embedding bound beside the lower bound of a short Lanczos run, or an iterative
method on the layer as an operator capped by that bound. :class:`ConvPlan` names the route, what gave each
bound, and why the route was taken (the sizes against the threshold it used).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ._conv_geometry import ConvGeometry

__all__ = ["DFT", "EMBEDDING", "ConvPlan", "embedding_text", "frequency_text", "not_circulant_text", "work_text"]

DFT = "DFT"
EMBEDDING = "circular-embedding bound"


@dataclass(frozen=True)
class ConvPlan:
    """How :func:`spectra.conv_norm` obtained its interval.

    Attributes
    ----------
    method : str
        The result's ``method`` (``"fft"``, ``"svd"`` or the iterative method).
    backend : str
        ``"torch"`` (the layer applied by ``torch.nn.functional`` on the weight's device) or ``"numpy"``.
    upper_by, lower_by : str
        What certified each bound: ``"DFT"`` (the per-frequency matrices of the block circulant), ``"exact"``
        (a zero or empty kernel),
        ``"circular-embedding bound"`` (deterministic, docs/bounds.md §11), ``"SVD"`` (LAPACK on the layer
        materialised), or the iterative method (``"lanczos"``: its upper bound holds with the result's
        ``confidence``; every lower bound is deterministic).
    why : str
        Why this route, in the order it was decided: the layer's geometry (a block circulant or not), its size
        against the threshold of ``method="auto"`` (not quoted for a requested route), and how the embedding
        bound compared with a short Lanczos run's lower bound.
    norm_plan : Plan or None
        The plan of the inner :func:`spectra.norm` call whose bound was used (None for the DFT alone).

    Examples
    --------
    >>> import numpy as np, spectra
    >>> w = np.ones((2, 2, 3, 3))
    >>> p = spectra.conv_norm(w, (8, 8), padding=1, padding_mode="circular").plan
    >>> p.method, p.upper_by, p.lower_by
    ('fft', 'DFT', 'DFT')
    """

    method: str
    backend: str
    upper_by: str
    lower_by: str
    why: str
    norm_plan: Any = None

    def __str__(self) -> str:
        if self.upper_by == self.lower_by == "exact":
            return f"{self.method} on {self.backend}, exact ({self.why})"
        if self.upper_by == self.lower_by:
            return f"{self.method} on {self.backend}, bounds by {self.upper_by} ({self.why})"
        return f"{self.method} on {self.backend}, upper by {self.upper_by}, lower by {self.lower_by} ({self.why})"


def frequency_text(geom: ConvGeometry) -> str:
    """The DFT route's reason: the geometry that makes the layer a block circulant, and the stack it gives."""
    grid = geom.spatial
    freqs = math.prod(grid[:-1]) * (grid[-1] // 2 + 1)  # the last axis's half spectrum (the weight is real)
    co, ci = geom.c_out // geom.groups, geom.c_in // geom.groups
    return (
        f"circular padding, stride 1, output shape = input shape: a block circulant, block-diagonalised by the "
        f"DFT into {geom.groups * freqs} matrices {co}×{ci}, normed as one stack"
    )


def not_circulant_text(geom: ConvGeometry) -> str:
    """Why the DFT does not block-diagonalise the layer: the first condition of
    :attr:`~spectra._conv_geometry.ConvGeometry.circular_exact` that it fails."""
    if geom.mode != "circular":
        why = f"{geom.mode} padding"
    elif any(s != 1 for s in geom.stride):
        why = f"stride {geom.stride}"
    else:
        why = f"output shape {geom.out} ≠ input shape {geom.spatial}"
    return f"{why}: not a block circulant"


def embedding_text(geom: ConvGeometry) -> str:
    """Which circulant bounds the layer: the padded grid (and the padding's norm), or the input grid."""
    if geom.mode == "circular":
        r = geom.circular_row_multiplicity()
        return f"rows of the circulant on the input grid {geom.spatial}, each at most {r}×"
    return f"the circulant on the padded grid {geom.padded}, ‖P‖₂ = {geom.pad_norm():g}"


def work_text(geom: ConvGeometry, limit: float) -> tuple[bool, str]:
    """``(small, text)``: whether ``n_out n_in min(n_out, n_in) <= limit`` (the layer is materialised)."""
    n_out, n_in = geom.n_out, geom.n_in
    work = n_out * n_in * min(n_out, n_in)
    small = work <= limit
    return small, f"{n_out}×{n_in} layer, n_out·n_in·min = {work:.1e}, {'at most' if small else 'above'} {limit:.0e}"

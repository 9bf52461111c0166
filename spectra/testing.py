"""Test matrices whose spectral norm is known without an SVD.

Dense and sparse matrices with prescribed singular values (their norm is ``max(s)`` exactly, up to the
rounding of the factors' product), the named singular-value profiles the test suite and the benchmarks use
(:data:`SPECTRA`: flat, decaying, clustered, repeated top, ...), and a preferential-attachment graph. They
are what the README, the guides and the asv suite check spectra against.

Examples
--------
>>> import spectra
>>> from spectra.testing import matrix_with_singular_values, spectrum
>>> A = matrix_with_singular_values(3.0 * spectrum("flat", 20), 60, 40, seed=0)
>>> r = spectra.norm(A, method="lanczos", seed=0)
>>> bool(r.lower <= 3.0 <= r.upper)
True
"""

from __future__ import annotations

from ._testing import (
    SPECTRA,
    matrix_with_singular_values,
    preferential_attachment_graph,
    sparse_with_singular_values,
    spectrum,
)

__all__ = [
    "SPECTRA",
    "matrix_with_singular_values",
    "preferential_attachment_graph",
    "sparse_with_singular_values",
    "spectrum",
]

"""Launch geometry of the CUDA kernels: pure host arithmetic, testable without a GPU.

Every function takes the device facts it needs (multiprocessor count, shared memory per block) as
arguments; :mod:`spectra.backends.cupy` reads them from the device once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._cuda_kernels import MAX_K, THREADS
from ._cuda_stack_kernels import MAX_Q, MAX_WARPS, warp_shared_bytes

__all__ = [
    "GRID_X_MAX",
    "CertifyLaunch",
    "RowsLaunch",
    "certify_launch",
    "gram_rows_shared_bytes",
    "grid_1d",
    "rows_launch",
    "stack_launches",
    "stack_shared_bytes",
    "stats_launch",
]

#: largest grid dimension x (2^31 - 1); every 1-D kernel loops grid-stride beyond it
GRID_X_MAX = 2**31 - 1
#: blocks per multiprocessor aimed at by grid-stride kernels (enough to hide memory latency)
_BLOCKS_PER_SM = 8
_WARPS = THREADS // 32


@dataclass(frozen=True)
class RowsLaunch:
    """Geometry of ``gram_rows_k{k}`` (or ``abs_stats_rows``): ``blocks`` blocks of ``rows_per_block`` rows."""

    blocks: int
    rows_per_block: int
    shared_bytes: int


def grid_1d(size: int, sm_count: int) -> int:
    """Blocks for a grid-stride loop over ``size`` elements: enough to fill the device, at most 2^31 - 1."""
    need = -(-max(size, 1) // THREADS)
    return int(max(1, min(need, sm_count * _BLOCKS_PER_SM, GRID_X_MAX)))


def gram_rows_shared_bytes(n: int, k: int, itemsize: int) -> int:
    """Dynamic shared memory of ``gram_rows_k{k}``: the ``n x k`` accumulator, the warp sums and ``y_i``."""
    return (n * k + _WARPS * k + k) * itemsize


def rows_launch(m: int, n: int, k: int, itemsize: int, sm_count: int, max_shared: int) -> RowsLaunch | None:
    """Geometry of the fused dense pass over the ``m`` rows of a C-ordered ``m x n`` matrix, or ``None``.

    ``None`` when it does not apply: ``k`` outside ``1..MAX_K``, an empty matrix, or an accumulator that
    does not fit in ``max_shared`` bytes of shared memory per block (the caller then uses two
    cuBLAS products). The rows are split into contiguous panels, as many as the multiprocessors can hold
    at once (by shared memory), and never more than ``m``.
    """
    if not (1 <= k <= MAX_K) or m <= 0 or n <= 0:
        return None
    shared = gram_rows_shared_bytes(n, k, itemsize)
    if shared > max_shared:
        return None
    per_sm = max(1, min(_BLOCKS_PER_SM, max_shared // max(shared, 1)))
    blocks = int(min(m, sm_count * per_sm, GRID_X_MAX))
    rows_per_block = -(-m // blocks)
    blocks = -(-m // rows_per_block)  # no block without rows
    return RowsLaunch(blocks, rows_per_block, shared)


def stats_launch(m: int, sm_count: int) -> RowsLaunch:
    """Geometry of ``abs_stats_rows`` (static shared memory only)."""
    blocks = int(max(1, min(m, sm_count * _BLOCKS_PER_SM)))
    rows_per_block = -(-max(m, 1) // blocks)
    return RowsLaunch(-(-max(m, 1) // rows_per_block), rows_per_block, 0)


def stack_shared_bytes(m: int, n: int, k: int, itemsize: int) -> int:
    """Dynamic shared memory of ``gram_stack``: one matrix and its ``m x k`` image."""
    return (m * n + m * k) * itemsize


def stack_launches(batch: int, m: int, n: int, k: int, itemsize: int, max_shared: int) -> list[tuple[int, int]] | None:
    """``(first, count)`` launches of ``gram_stack`` covering ``batch`` matrices (one block per matrix).

    ``None`` when one matrix with its image does not fit in shared memory. Each launch has at most
    2^31 - 1 blocks (the grid limit).
    """
    if batch <= 0 or m <= 0 or n <= 0 or k <= 0 or stack_shared_bytes(m, n, k, itemsize) > max_shared:
        return None
    return [(first, min(GRID_X_MAX, batch - first)) for first in range(0, batch, GRID_X_MAX)]


#: shared memory per block aimed at by ``small_gram_certify`` (more warps per block only while they fit in it)
CERTIFY_BLOCK_SHARED = 48 * 1024
#: longest side the CuPy backend gives the one-warp certificate: one warp reads its matrix twice and forms
#: ``G`` with ``p q^2 / 64`` multiply-adds per lane, while the fused Gram pass spreads a tall matrix over the
#: whole device (a judgement from these counts, not measured on a GPU)
CERTIFY_MAX_LONG_SIDE = 4096


@dataclass(frozen=True)
class CertifyLaunch:
    """Geometry of ``small_gram_certify``: ``warps`` matrices per block, ``(first, blocks)`` per launch."""

    warps: int
    shared_bytes: int
    launches: tuple[tuple[int, int], ...]

    @property
    def threads(self) -> int:
        return 32 * self.warps


def certify_launch(batch: int, q: int, is_complex: bool, max_shared: int) -> CertifyLaunch | None:
    """Geometry of the stack certificate over ``batch`` matrices of Gram order ``q``, or ``None``.

    ``None`` when ``q`` is outside ``1..MAX_Q`` or one warp's shared memory exceeds ``max_shared`` (the
    device's opt-in limit per block). A block holds as many warps (matrices, at most ``MAX_WARPS``) as fit
    in :data:`CERTIFY_BLOCK_SHARED` (one warp at least): a block's shared memory stays allocated until its
    slowest matrix is done, so few warps per block waste little when matrices need different step counts.
    Each launch has at most 2^31 - 1 blocks (the grid limit); matrix ``first + k warps + w`` goes to warp
    ``w`` of block ``k``.
    """
    per = warp_shared_bytes(q, is_complex)
    if batch <= 0 or not 1 <= q <= MAX_Q or per > max_shared:
        return None
    warps = max(1, min(MAX_WARPS, CERTIFY_BLOCK_SHARED // per))
    per_launch = GRID_X_MAX * warps
    launches = tuple((first, -(-min(per_launch, batch - first) // warps)) for first in range(0, batch, per_launch))
    return CertifyLaunch(warps, warps * per, launches)

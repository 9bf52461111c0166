"""What a block certificate with matrix-valued polynomials would give, and why it is not used (goal 3 of #15).

Block Lanczos on ``M = AᵀA`` from a Gaussian block ``Ω`` (``n × b``) gives orthonormal matrix polynomials
``P_0 = R_0⁻¹`` (``Ω = V_1 R_0``), ``P_{j+1}(λ) = (λP_j − P_j A_j − P_{j−1}B_{j−1}ᵀ) B_j⁻¹``, with
``z₁ᵀ V_{j+1} = gᵀ P_j(λ₁)`` for the top eigenvector ``z₁`` and ``g = Ωᵀz₁ ~ N(0, I_b)``. Every vector of the
block Krylov space is ``V d``, so ``|gᵀ 𝒫(λ₁) d| = |z₁ᵀ V d| ≤ ‖d‖`` for all ``d`` and, on the event
``‖g‖² ≥ χ²_b⁻¹(δ)``, ``λ_min(G(λ₁)) ≤ 1/χ²_b⁻¹(δ)`` with ``G(λ) = Σ_j P_j(λ)P_j(λ)ᵀ``. For ``b = 1`` this is the
Christoffel bound of docs/bounds.md §3b.

``passes`` counts the passes until ``λ_min(G)`` exceeds the threshold at the point that would certify
``rtol = 1e-6`` (float64, full reorthogonalisation, no rounding pads: a count, not a certificate), on the 3000²
Gaussian of the goal, for ``b = 1, 2, 4, 8`` and three seeds, and checks on a grid above that point that
``λ_min(G)`` does not fall back below the threshold there.

``counterexample`` shows, in 50-digit arithmetic (mpmath), a block Jacobi matrix (``b = 3``, two blocks; it is
the block Lanczos matrix of ``M = T`` from ``Ω = E₁``) for which ``λ_min(G(λ))`` *decreases* above the top Ritz
value. Unlike the scalar case (every ``|p_j|`` grows above the top Ritz value), the set where the bound allows
``λ₁`` is not an interval, so its upper end is not the root found from the goal point: a certificate would
need the largest real root of ``det(G(λ) − I/χ²_b⁻¹(δ))``, with the rounding of the block recurrence bounded.

``search`` draws 2000 random block Jacobi matrices (``b`` = 2–4, 1–6 blocks, ``B_j`` general invertible, which
gives the same ``G`` as the triangular ``B_j`` of a QR-based recurrence: ``P_j → P_j U`` leaves ``G`` unchanged),
flags a fall of ``λ_min(G)`` between neighbouring points of a grid above the top Ritz value (float64), and
confirms each flagged fall in 50-digit arithmetic.

    python docs/scripts/matrix_polynomial_certificate.py passes [--n 3000]
    python docs/scripts/matrix_polynomial_certificate.py counterexample
    python docs/scripts/matrix_polynomial_certificate.py search
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats

RTOL, DELTA = 1e-6, 1e-3


def smallest_eigenvalue_of_g(As, Bs, R0, lam: float) -> float:
    """``λ_min(Σ_{j≤k} P_j(λ)P_j(λ)ᵀ)`` as ``σ_min([P_0 … P_k])²`` (``k = len(Bs)``)."""
    b = R0.shape[0]
    prev, P = np.zeros((b, b)), np.linalg.inv(R0)
    blocks = [P]
    for j in range(len(Bs)):
        nxt = (lam * P - P @ As[j] - (prev @ Bs[j - 1].T if j else 0.0)) @ np.linalg.inv(Bs[j])
        prev, P = P, nxt
        blocks.append(P)
    return float(np.linalg.svd(np.hstack(blocks), compute_uv=False)[-1] ** 2)


def passes(A: np.ndarray, b: int, seed: int, maxsteps: int = 200):
    """Block Lanczos on ``AᵀA``; the first pass count at which the goal point is excluded."""
    n = A.shape[1]
    V, R0 = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, b)))
    threshold = 1.0 / stats.chi2.ppf(DELTA, b)
    Vs, As, Bs = [V], [], []
    for k in range(1, maxsteps + 1):
        W = A.T @ (A @ Vs[-1])  # one pass over A for the b columns
        As.append(Vs[-1].T @ W)
        basis = np.hstack(Vs)
        for _ in range(2):
            W -= basis @ (basis.T @ W)
        Vn, Bk = np.linalg.qr(W)
        T = _block_jacobi(As, Bs)
        theta = np.linalg.eigvalsh(T)[-1]
        Bs.append(Bk)
        Vs.append(Vn)
        goal = theta * (1 + RTOL) ** 2
        if smallest_eigenvalue_of_g(As, Bs, R0, goal) > threshold:
            grid = goal * (1 + np.logspace(-8, 0, 60))
            holds = all(smallest_eigenvalue_of_g(As, Bs, R0, x) > threshold for x in grid)
            return k, float(np.sqrt(theta)), holds
    return None, None, None


def counterexample() -> None:
    import mpmath as mp

    mp.mp.dps = 50
    As = [
        np.array([[2.73, 2.22, 8.83], [2.22, -6.63, -2.49], [8.83, -2.49, -6.54]]),
        np.array([[4.13, 1.56, 16.88], [1.56, 9.41, -10.13], [16.88, -10.13, -5.29]]),
    ]
    Bs = [
        np.array([[-0.18, -0.34, -0.17], [0.12, -0.07, 0.16], [0.15, 0.6, 0.56]]),
        np.array([[-1.43, -6.35, 4.82], [-2.66, -3.28, -2.07], [1.19, 3.75, 0.85]]),
    ]
    theta = max(mp.eigsy(mp.matrix(_block_jacobi(As, Bs).tolist()))[0])
    print(f"top Ritz value theta = {mp.nstr(theta, 20)}")
    previous = None
    for e in (-7, -6, -5, -4, -3, -2, -1, 0):
        value = _smallest_in_50_digits(As, Bs, theta * (1 + mp.mpf(10) ** e))
        note = "" if previous is None or value >= previous else "   (below the previous value)"
        print(f"lambda = theta (1 + 1e{e}): lambda_min(G) = {mp.nstr(value, 15)}{note}")
        previous = value


def _block_jacobi(As, Bs) -> np.ndarray:
    b, k = As[0].shape[0], len(As)
    T = np.zeros((k * b, k * b))
    for j in range(k):
        T[j * b : (j + 1) * b, j * b : (j + 1) * b] = As[j]
        if j < k - 1:
            T[(j + 1) * b : (j + 2) * b, j * b : (j + 1) * b] = Bs[j]
            T[j * b : (j + 1) * b, (j + 1) * b : (j + 2) * b] = Bs[j].T
    return T


def _smallest_in_50_digits(As, Bs, lam):
    """``λ_min(G(λ))`` with 50 digits (``P_0 = I``)."""
    import mpmath as mp

    mp.mp.dps = 50
    b = As[0].shape[0]
    prev, P = mp.zeros(b, b), mp.eye(b)
    G = P * P.T
    for j in range(len(Bs)):
        a, bj = mp.matrix(As[j].tolist()), mp.matrix(Bs[j].tolist())
        nxt = (
            mp.mpf(lam) * P - P * a - (prev * mp.matrix(Bs[j - 1].tolist()).T if j else mp.zeros(b, b))
        ) * mp.inverse(bj)
        prev, P = P, nxt
        G += P * P.T
    return min(mp.eigsy(G)[0])


def search(trials: int = 2000) -> None:
    from mpmath import mpf

    rng = np.random.default_rng(0)
    flagged = confirmed = 0
    for _ in range(trials):
        b, k = int(rng.integers(2, 5)), int(rng.integers(1, 7))
        As, Bs = [], []
        for _j in range(k):
            X = rng.standard_normal((b, b)) * rng.choice([0.1, 1, 10])
            As.append((X + X.T) / 2)
            Bs.append(rng.standard_normal((b, b)) * rng.choice([0.01, 0.3, 1, 3]))
        theta = np.linalg.eigvalsh(_block_jacobi(As, Bs))[-1]
        grid = theta + np.concatenate([[0], np.logspace(-6, 3, 400)]) * max(1.0, abs(theta))
        vals = np.array([smallest_eigenvalue_of_g(As, Bs, np.eye(b), x) for x in grid])
        fall = np.diff(vals) / np.maximum(np.abs(vals[:-1]), 1e-300)
        if fall.min() < -1e-6:
            flagged += 1
            i = int(np.argmin(fall))
            lo, hi = (_smallest_in_50_digits(As, Bs, mpf(x)) for x in (grid[i], grid[i + 1]))
            confirmed += bool(hi < lo)
    print(f"{trials} block Jacobi matrices: a fall flagged in {flagged}, confirmed in 50 digits in {confirmed}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["passes", "counterexample", "search"])
    p.add_argument("--n", type=int, default=3000)
    args = p.parse_args()
    if args.what == "counterexample":
        counterexample()
        return
    if args.what == "search":
        search()
        return
    A = np.random.default_rng(0).standard_normal((args.n, args.n))
    norm = np.linalg.norm(A, 2)
    print(f"{args.n}² Gaussian, ||A||_2 = {norm!r}, rtol {RTOL:g}, confidence {1 - DELTA:g}")
    for b in (1, 2, 4, 8):
        for seed in range(3):
            k, ritz, holds = passes(A, b, seed)
            print(f"b = {b}, seed {seed}: {k} passes (top Ritz value {ritz!r}); bound stays above on the grid: {holds}")


if __name__ == "__main__":
    main()

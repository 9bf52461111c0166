"""``method="power"``: alternating products with A and A^H from a random start (docs/bounds.md §2).

With ``nu_i`` the growth factor of the i-th single product (i counts products with A or A^H):

- lower = the certified growth factor of the last product (§6c), and the deterministic caps;
- upper = ``min_i t^(-1/i) * geomean(nu_1 + e, ..., nu_i + e)`` on the single event ``|z^H b| >= t`` (§1),
  each computed growth factor raised by the typical rounding error ``e`` of one product (§6e,
  :func:`._common.product_noise`), padded for rounding (§6d) and capped by the deterministic bounds of §5.

``certify=False`` stops on the residual ``||A^H u - sigma v|| <= rtol * sigma``; ``certify=True`` stops on
the certified width, which shrinks only like ``t^(-1/i)``.
"""

from __future__ import annotations

import numpy as np

from .. import _bounds
from .._operand import Operand
from ._common import (
    MethodResult,
    Options,
    Stopper,
    finish,
    log_or_neg_inf,
    product_noise,
    start_vector,
    unit_columns,
)

__all__ = ["run"]


def run(op: Operand, opts: Options) -> MethodResult:
    stop = Stopper(op, opts, "power")
    v, t = start_vector(op, opts)  # right side, unit
    log_sum = np.zeros(op.B)  # sum of log m_l over the growth factors nu_l = m_l 2^(e_l) (_bounds.power_upper)
    exp_sum = np.zeros(op.B, dtype=np.int64)  # sum of the e_l, exact
    products = 0
    nu_right = np.zeros(op.B)
    iterations = 0
    norm = op.xp.linalg.vector_norm
    # a computed growth factor may lie below the exact one by a product's rounding: where t is close to 1 (a Gram
    # side of dimension one) nothing else covers it (ones((300, 1), complex64): 44 u below, outside 10 k u)
    noise = product_noise(op)

    def grow(nu: np.ndarray, products: int) -> np.ndarray:
        """Add the growth factor of one more product (split exactly, see _bounds.power_upper): the bound."""
        nonlocal log_sum, exp_sum
        mantissa, exponent = np.frexp(nu + noise)
        log_sum = log_sum + log_or_neg_inf(mantissa)
        exp_sum = exp_sum + exponent
        return _bounds.power_upper(exp_sum, log_sum, products, t) * (1.0 + _bounds.krylov_rounding_pad(products, op.u))

    for iterations in range(1, opts.maxiter + 1):  # noqa: B007 (the count is reported)
        w, z = op.gram(v, with_image=True)  # A v and A^H (A v): one read of A where the backend fuses it
        # the three norms of a step are formed on the device and cross to the host together
        sigma = norm(w, axis=-2, keepdims=True)  # ||A v||
        z = z * op.inverse(sigma)  # = A^H u for the unit left vector u = A v / ||A v||
        z_norm = norm(z, axis=-2, keepdims=True)
        res_norm = norm(z - sigma * v, axis=-2, keepdims=True)  # ||A^H u - sigma v||
        nu_right, nu_left, res = (x[:, 0] for x in op.host_norms(sigma, z_norm, res_norm))
        products += 1
        upper = grow(nu_right, products)
        stop.update(lower_est=nu_right, prob_upper=upper, products=products)

        products += 1
        upper = grow(nu_left, products)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(nu_right > 0, res / np.where(nu_right > 0, nu_right, 1.0), 0.0)
        done = stop.update(lower_est=nu_left, prob_upper=upper, residual=rel, products=products)
        v = z * op.inverse(z_norm)
        if done.all():
            break
    stop.iterations = iterations

    return finish(op, stop, v, opts, products, left_vector=lambda: unit_columns(op, op.matmat(v)))

"""spectra: the spectral norm ``||A||_2`` with certified error bounds.

>>> import numpy as np, spectra
>>> r = spectra.norm(np.eye(3) * 2.0)
>>> r.value, r.confidence
(2.0, 1.0)
"""

from ._api import norm
from ._conv import conv_norm
from ._errors import BackendUnavailableError, ConvergenceWarning, SpectraError
from ._normalize import normalize
from ._precompile import compile_numba_kernels
from ._progress import Progress
from ._result import NormEstimate

__all__ = [
    "BackendUnavailableError",
    "ConvergenceWarning",
    "NormEstimate",
    "Progress",
    "SpectraError",
    "compile_numba_kernels",
    "conv_norm",
    "norm",
    "normalize",
]
__version__ = "0.1.0"

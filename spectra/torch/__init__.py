"""PyTorch integration: certified spectral normalisation and Lipschitz bounds of networks.

Imported only when used (``import spectra`` never imports torch); needs the ``torch`` extra
(``pip install "spectra-linalg[torch]"``).

>>> import torch, spectra.torch as st
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> st.lipschitz_bound(net, (4,)).confidence
1.0
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without torch
    from .._errors import BackendUnavailableError
    from .._install import pip_install

    raise BackendUnavailableError(
        f"spectra.torch needs PyTorch, which is not installed; install it with: {pip_install('torch')}"
    ) from exc

from ._lipschitz import ACTIVATION_CONSTANTS, LayerBound, LipschitzBound, Residual, certified_radius, lipschitz_bound
from ._parametrization import CertifiedSpectralNorm, spectral_norm

__all__ = [
    "ACTIVATION_CONSTANTS",
    "CertifiedSpectralNorm",
    "LayerBound",
    "LipschitzBound",
    "Residual",
    "certified_radius",
    "lipschitz_bound",
    "spectral_norm",
]

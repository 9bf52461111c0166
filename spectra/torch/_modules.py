"""The convolution arguments of PyTorch modules, as :func:`spectra.conv_norm` takes them."""

from __future__ import annotations

from torch import nn

__all__ = ["CONV_TYPES", "TRANSPOSED_TYPES", "conv_arguments"]

CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
TRANSPOSED_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def conv_arguments(m: nn.Module) -> dict:
    """``stride``, ``padding``, ``padding_mode``, ``dilation``, ``groups`` of a ``ConvNd`` / ``ConvTransposeNd``,
    plus ``transposed=True`` and ``output_padding`` for the latter (the norm is that of the adjoint convolution)."""
    padding = m.padding if isinstance(m.padding, str) else tuple(m.padding)
    args = dict(
        stride=tuple(m.stride),
        padding=padding,
        padding_mode=m.padding_mode,
        dilation=tuple(m.dilation),
        groups=m.groups,
    )
    if isinstance(m, TRANSPOSED_TYPES):
        args.update(transposed=True, output_padding=tuple(m.output_padding))
    return args

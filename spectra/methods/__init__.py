"""The methods, each written once against the backend primitives (see :mod:`spectra._operand`)."""

from __future__ import annotations

from importlib import import_module

__all__ = ["get"]

_MODULES = {"svd": "svd", "power": "power", "lanczos": "lanczos", "randomized": "randomized", "gram": "gram"}


def get(name: str):
    """The ``run(op, opts)`` function of method ``name``."""
    return import_module(f"{__name__}.{_MODULES[name]}").run

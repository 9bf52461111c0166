"""Collection rules for the doctest run over ``spectra/`` (``--doctest-modules``)."""

import importlib.util

# The CuPy backend module imports CuPy at the top (it is only loaded once CuPy is installed); it has no
# doctests. Without CuPy its code is exercised through tests/fake_cupy.py (tests/test_cupy_shim.py).
collect_ignore = [] if importlib.util.find_spec("cupy") else ["spectra/backends/cupy.py"]

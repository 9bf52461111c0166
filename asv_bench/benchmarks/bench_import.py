"""Cost of ``import spectra`` in a fresh interpreter, beside the NumPy/SciPy imports it cannot avoid.

asv runs each ``timeraw_`` benchmark's code in a new process, so nothing is cached in ``sys.modules``.
``import spectra`` needs NumPy, ``scipy.sparse`` (with ``scipy.sparse.linalg.LinearOperator``) and
array-api-compat's NumPy wrapper; the difference between the two benchmarks is spectra's own share.
"""

from __future__ import annotations

#: what ``import spectra`` imports from other packages (tests/test_import.py checks the list stays true)
PREREQUISITES = "import numpy, scipy.sparse, scipy.sparse.linalg, array_api_compat.numpy"


class ImportTime:
    """Seconds to import, in a fresh interpreter each time."""

    repeat = (5, 20, 30.0)

    def timeraw_import_spectra(self):
        return "import spectra"

    def timeraw_import_prerequisites(self):
        return PREREQUISITES

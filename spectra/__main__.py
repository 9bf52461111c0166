"""``python -m spectra`` and the installed ``spectra`` command: see :mod:`spectra._cli`."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())

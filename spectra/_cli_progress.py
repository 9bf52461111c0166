"""What the command line shows while a norm runs: a progress bar, text lines, and the ``--plot`` figure.

All of it is driven by ``spectra.norm(..., progress=callback)``: each callback receives a
:class:`spectra.Progress` after every step. The bar uses tqdm (the ``cli`` extra) and is shown only when
stderr is a terminal; without tqdm a terminal gets text lines instead.
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._errors import SpectraError
from ._install import pip_install
from ._progress import Progress

__all__ = ["ProgressBar", "Recorder", "TextLines", "fanout", "plot_convergence", "require_matplotlib", "terminal"]


def terminal(stream: Any = None) -> bool:
    """Whether ``stream`` (stderr by default) is attached to a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _digits(width: float) -> float:
    """Certified decimal digits of a relative width: ``-log10(width)``, 0 for an unbounded interval."""
    if not width > 0:
        return math.inf if width == 0 else 0.0
    return max(0.0, -math.log10(width))


class ProgressBar:
    """A tqdm bar of certified digits, ``-log10(width)`` out of ``-log10(rtol)``, for one run.

    It appears only after ``DELAY`` seconds, so short runs print nothing.
    """

    DELAY = 0.5

    def __init__(self, label: str, delay: float | None = None, file: Any = None):
        self.label, self.file = label, sys.stderr if file is None else file
        self.delay = self.DELAY if delay is None else delay
        self.bar = None

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("tqdm") is not None

    def notice(self, text: str) -> None:
        """A line above the bar (a first call compiling kernels, before the bar appears or while it shows)."""
        if self.bar is None:
            print(text, file=self.file, flush=True)
        else:
            self.bar.write(text, file=self.file)

    def __call__(self, p: Progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            total = round(_digits(p.rtol), 1)
            size = shutil.get_terminal_size()
            self.bar = tqdm(
                total=total,
                desc=self.label,
                delay=self.delay,
                file=self.file,
                leave=False,
                ncols=min(size.columns, 120),  # a terminal that reports 0 x 0 (a bare pty) gets 80 x 24
                nrows=size.lines,
                bar_format="{desc} |{bar}| {n:.1f}/{total:.1f} certified digits{postfix} [{elapsed}]",
            )
        digits = min(_digits(p.width), self.bar.total)
        self.bar.set_postfix_str(f"{p.products} products, width {p.width:.1e}", refresh=False)
        self.bar.update(digits - self.bar.n)
        if p.final:
            if self.bar.n or self.bar.format_dict["elapsed"] >= self.delay:
                self.bar.refresh()  # the final state is shown even when it came within tqdm's mininterval
            self.bar.close()


class TextLines:
    """One line per ``every`` seconds on ``file`` (and the final line), from ``delay`` seconds on."""

    def __init__(self, delay: float = 0.0, every: float = 0.2, file: Any = None):
        self.delay, self.every, self.file = delay, every, sys.stderr if file is None else file
        self.last = -math.inf

    def notice(self, text: str) -> None:
        """A line of its own (a first call compiling kernels)."""
        print(text, file=self.file, flush=True)

    def __call__(self, p: Progress) -> None:
        now = time.perf_counter()
        if p.elapsed < self.delay or (not p.final and now - self.last < self.every):
            return
        self.last = now
        print(p, file=self.file, flush=True)


class Recorder(list):
    """Keeps every :class:`Progress` of a run (for ``--plot``)."""

    def __call__(self, p: Progress) -> None:
        self.append(p)


def fanout(callbacks: Sequence[Callable[[Progress], Any]]) -> Callable[[Progress], Any] | bool:
    """One ``progress=`` argument calling each callback in turn; ``False`` when there is none."""
    callbacks = [c for c in callbacks if c is not None]
    if not callbacks:
        return False

    def call(p: Progress) -> None:
        for c in callbacks:
            c(p)

    def notice(text: str) -> None:  # a compile notice (spectra._compile_notice) goes to those that show lines
        for c in callbacks:
            if callable(getattr(c, "notice", None)):
                c.notice(text)

    call.notice = notice
    return call


def require_matplotlib(path: str | None = None) -> None:
    """Raise before any work is done when ``--plot`` cannot be honoured: no matplotlib, or (given ``path``) no
    directory to write the figure into."""
    if importlib.util.find_spec("matplotlib") is None:
        raise SpectraError(f"--plot needs matplotlib, which is not installed; install it with: {pip_install('plot')}")
    if path is not None:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise SpectraError(f"--plot {path}: the directory {folder} does not exist")
        if os.path.isdir(path):
            raise SpectraError(f"--plot {path}: is a directory; give a file name such as {os.path.join(path, 'x.png')}")


def plot_convergence(path: str, runs: dict[str, Sequence[Progress]], title: str, truth: float | None = None) -> None:
    """Save the interval ``[lower, upper]`` and its relative width against the products, one colour per run."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig = Figure(figsize=(7.5, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    for i, (label, steps) in enumerate(runs.items()):
        if not steps:
            continue
        color = f"C{i}"
        x = [max(p.products, 1) for p in steps]
        lower = [p.lower for p in steps]
        upper = [p.upper if math.isfinite(p.upper) else math.nan for p in steps]
        top.plot(x, lower, color=color, lw=1.2, label=f"{label}: lower")
        top.plot(x, upper, color=color, lw=1.2, ls="--", label=f"{label}: upper")
        widths = [p.width if 0 < p.width < math.inf else math.nan for p in steps]
        bottom.plot(x, widths, color=color, lw=1.2, marker="." if len(steps) < 30 else None, label=label)
        bottom.axhline(steps[-1].rtol, color=color, lw=0.8, ls=":")
    if truth is not None:
        top.axhline(truth, color="k", lw=0.8, label="||A||_2")
    top.set_ylabel("interval [lower, upper]")
    top.set_title(title)
    top.legend(fontsize="small")
    bottom.set_yscale("log")
    bottom.set_xscale("log")
    bottom.xaxis.set_major_formatter(ScalarFormatter())
    bottom.xaxis.set_minor_formatter(NullFormatter())
    bottom.set_xlabel("products with A or A^H")
    bottom.set_ylabel("relative width (upper - lower) / lower")
    bottom.legend(fontsize="small", title="dotted: effective rtol", title_fontsize="small")
    try:
        fig.savefig(path)
    except OSError as exc:  # e.g. no permission to write there
        raise SpectraError(f"--plot {path}: the figure could not be written ({exc.strerror or exc})") from None

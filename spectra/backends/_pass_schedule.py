"""Parallel kernel or serial twin, pass by pass, from the times of both (leaf module: it only decides).

A parallel pass waits for its slowest thread: on a machine whose other cores are busy, a worker thread gets
its turn milliseconds late, and passes over 2·10⁶ nonzeros took two to four times as long as on the calling
thread alone (docs/performance.md, "Sparse passes on a busy machine, and reorderings"). The serial twin computes the
same blocks in the same order, so the choice changes the time, never a bit of the result.
"""

from __future__ import annotations

import os
from collections import deque

import numpy as np

__all__ = ["FIRST_PROBE", "KEEP", "WARMUP", "PassSchedule", "cores_busy"]

#: every this many-th pass runs the mode that lost (a probe); the interval doubles each time the probe loses
FIRST_PROBE = 8
#: the times per unit of work of this many recent passes of each mode are compared (their medians)
KEEP = 3
#: passes of each mode, alternating, before the first choice (a mode's first pass is often an outlier)
WARMUP = 2


class PassSchedule:
    """Chooses the parallel kernel or its bitwise-equal serial twin for each pass of one computation.

    The first passes alternate, parallel first (:data:`WARMUP` of each); then the mode whose recent passes took
    less time per unit of work runs, and every :data:`FIRST_PROBE`-th pass runs the other (a probe). A probe's
    time replaces that mode's earlier ones (taken under another load): if it is now the faster, it runs from
    then on; if not, the interval to the next probe doubles, so a parallel region that stalls on a busy machine
    is rarely paid. With ``busy=True`` (the cores were already taken when the computation started, see
    :func:`cores_busy`) there is no warm-up: the serial twin runs until the first probe.

    Examples
    --------
    >>> s = PassSchedule()
    >>> s.parallel_next()  # nothing recorded yet: parallel first
    True
    >>> s.record(True, 0.030, 10**6)
    >>> s.parallel_next()  # then serial: the two alternate for a start
    False
    >>> s.record(False, 0.008, 10**6)
    >>> s.record(s.parallel_next(), 0.031, 10**6)
    >>> s.record(s.parallel_next(), 0.009, 10**6)
    >>> s.parallel_next()  # then the faster mode
    False
    """

    def __init__(self, busy: bool = False) -> None:
        self._seconds = {True: deque(maxlen=KEEP), False: deque(maxlen=KEEP)}
        self._since_probe = 0
        self._probe_after = FIRST_PROBE
        self._probing = False
        #: ``busy``: the cores are known to be taken; no warm-up, serial until a probe finds the parallel faster
        self._recorded = 2 * WARMUP if busy else 0

    def _best(self) -> bool:
        if not (self._seconds[True] and self._seconds[False]):
            return bool(self._seconds[True])  # a busy start: serial until the parallel kernel has been timed
        return float(np.median(self._seconds[True])) <= float(np.median(self._seconds[False]))

    def parallel_next(self) -> bool:
        """``True``: run the next pass on the parallel kernel; ``False``: on its serial twin."""
        if self._recorded < 2 * WARMUP:  # the warm-up: parallel, serial, parallel, ...
            return self._recorded % 2 == 0
        self._since_probe += 1
        best = self._best()
        self._probing = self._since_probe >= self._probe_after
        if self._probing:
            self._since_probe = 0
            return not best
        return best

    def record(self, parallel: bool, seconds: float, work: int) -> None:
        """Time of a pass of ``work`` (nonzeros x columns) that ran ``parallel`` (or serial)."""
        probe = self._probing
        if probe:  # the probed mode's earlier times are stale (taken under the load that made it lose)
            before = self._best()
            self._seconds[parallel].clear()
        self._seconds[parallel].append(seconds / max(work, 1))
        self._recorded += 1
        if probe:  # a probe that wins switches the mode; one that loses doubles the interval to the next
            self._probe_after = FIRST_PROBE if self._best() != before else 2 * self._probe_after
            self._probing = False


def cores_busy() -> bool:
    """Whether the 1-minute load average is at least the number of cores this process may run on.

    A cheap, system-wide probe (``os.getloadavg``): then a parallel region would likely wait for a worker thread
    that other work keeps from a core. ``False`` where the load average is not available.
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return load >= cores

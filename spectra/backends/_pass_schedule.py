"""Parallel kernel or serial twin, pass by pass, from the times of both (leaf module: it only decides).

A parallel pass waits for its slowest thread: on a machine whose other cores are busy, a worker thread gets
its turn milliseconds late, and passes over 2·10⁶ nonzeros took two to four times as long as on the calling
thread alone (docs/performance.md, "Sparse passes on a busy machine, and reorderings"). The serial twin computes the
same blocks in the same order, so the choice changes the time, never a bit of the result.

What a computation learnt (the faster mode, the interval to its next probe) is handed to the next one that
starts within :data:`PRIOR_SECONDS` (:func:`start_schedule`, :func:`remember`): a run of calls on a quiet
machine then pays the serial warm-up once, not in every call (docs/performance.md, "The pass
schedule across calls").
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Hashable
from typing import NamedTuple

__all__ = [
    "FIRST_PROBE",
    "KEEP",
    "MAX_PROBE",
    "PRIOR_SECONDS",
    "STALL",
    "WARMUP",
    "PassSchedule",
    "Prior",
    "cores_busy",
    "remember",
    "start_schedule",
]

#: every this many-th pass runs the mode that lost (a probe); the interval doubles each time the probe loses
FIRST_PROBE = 8
#: the times per unit of work of this many recent passes of each mode are compared (their medians)
KEEP = 3
#: passes of each mode, alternating, before the first choice (a mode's first pass is often an outlier)
WARMUP = 2
#: the interval between probes doubles up to this many passes: a change of load is noticed within it
MAX_PROBE = 64
#: a computation starting at most this many seconds after the last one ended continues its schedule
PRIOR_SECONDS = 60.0
#: a parallel pass this many times slower (per unit of work) than the median of the recent ones stalled: the
#: next pass probes the serial twin, however far the next probe was
STALL = 3.0


class Prior(NamedTuple):
    """What one computation's schedule hands to the next: the faster mode and where its probes stood."""

    parallel: bool  #: the mode that was faster at the end
    probe_after: int  #: passes between probes of the other mode
    since_probe: int  #: passes since the last probe


class PassSchedule:
    """Chooses the parallel kernel or its bitwise-equal serial twin for each pass of one computation.

    The first passes alternate, parallel first (:data:`WARMUP` of each); then the mode whose recent passes took
    less time per unit of work runs, and every :data:`FIRST_PROBE`-th pass runs the other (a probe). A probe's
    time replaces that mode's earlier ones (taken under another load): if it is now the faster, it runs from
    then on; if not, the interval to the next probe doubles, so a parallel region that stalls on a busy machine
    is rarely paid (at most every :data:`MAX_PROBE` passes). With ``busy=True`` (the cores were already taken
    when the computation started, see :func:`cores_busy`) there is no warm-up: the serial twin runs until the
    first probe. With a ``prior`` (the end state of an earlier computation, :meth:`prior`) there is no warm-up
    either: its faster mode runs, and its probes continue where they stood. A parallel pass that stalls (:data:`STALL`
    times the median of the recent ones: the other cores were taken meanwhile) brings the next probe forward.

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

    def __init__(self, busy: bool = False, prior: Prior | None = None) -> None:
        self._seconds = {True: deque(maxlen=KEEP), False: deque(maxlen=KEEP)}
        self._since_probe = 0 if prior is None else prior.since_probe
        self._probe_after = FIRST_PROBE if prior is None else prior.probe_after
        self._probing = False
        #: the mode that runs until both have been timed: the prior's, else serial when ``busy``
        self._prefer = (not busy) if prior is None else prior.parallel
        #: ``busy`` or a prior: no warm-up, the preferred mode until a probe finds the other faster
        self._recorded = 2 * WARMUP if busy or prior is not None else 0

    def _best(self) -> bool:
        if not (self._seconds[True] and self._seconds[False]):  # a busy start or a prior: the mode timed, if any
            return bool(self._seconds[True]) if self._seconds[True] or self._seconds[False] else self._prefer
        return _median(self._seconds[True]) <= _median(self._seconds[False])

    def prefers_parallel(self) -> bool:
        """The mode the next pass would run if it were no probe (for other parallel work over the same matrix)."""
        return True if self._recorded < 2 * WARMUP else self._best()

    def prior(self) -> Prior | None:
        """The state a later computation continues from, or ``None`` before the warm-up has ended."""
        if self._recorded < 2 * WARMUP:
            return None
        return Prior(self._best(), self._probe_after, self._since_probe)

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
        recent, per_work = self._seconds[parallel], seconds / max(work, 1)
        if parallel and not probe and recent and self._recorded >= 2 * WARMUP and per_work > STALL * _median(recent):
            self._since_probe = self._probe_after  # a stalled parallel region: probe the serial twin next
        recent.append(per_work)
        self._recorded += 1
        if probe:  # a probe that wins switches the mode; one that loses doubles the interval to the next
            self._probe_after = FIRST_PROBE if self._best() != before else min(2 * self._probe_after, MAX_PROBE)
            self._probing = False


def _median(values) -> float:
    """The median of a few numbers (NumPy's, without its per-call overhead on every pass)."""
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


#: ``key -> (end time, Prior)`` of the last computation with that key (the kind of pass and Numba's thread count)
_LAST: dict[Hashable, tuple[float, Prior]] = {}


def start_schedule(key: Hashable) -> PassSchedule:
    """The schedule for a new computation: the last one's state if it ended at most :data:`PRIOR_SECONDS`
    ago with the same ``key`` (the backend's: the kind of pass and the thread count), else a fresh start (serial
    first when :func:`cores_busy`).

    Examples
    --------
    >>> s = start_schedule(("sparse", 2))
    >>> s.record(s.parallel_next(), 0.004, 10**6)  # ... passes of one computation
    >>> remember(("sparse", 2), s)  # when it ends: the next computation with that key starts from its state
    """
    last = _LAST.get(key)
    if last is not None and time.monotonic() - last[0] <= PRIOR_SECONDS:
        return PassSchedule(prior=last[1])
    return PassSchedule(cores_busy())


def remember(key: Hashable, schedule: PassSchedule) -> None:
    """Keep ``schedule``'s state (if its warm-up has ended) for the next computation with the same ``key``."""
    prior = schedule.prior()
    if prior is not None:
        _LAST[key] = (time.monotonic(), prior)


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

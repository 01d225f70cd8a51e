"""The end of a run in the Snakemake process: end it as soon as its work is done.

Two waits that did nothing were measured at the end of a one-row edit (issue 16):

* Snakemake's job scheduler (9.x) re-evaluates its queue on a :class:`threading.Timer` of one
  second (its job-rate limit, ``--max-jobs-per-timespan``, default 100 per second). A timer is a
  non-daemon thread, so after the last job Python waits for the last timer to fire before the
  process can end: 0.5-0.7 s. Once the scheduler has returned -- ``onsuccess:``/``onerror:`` run
  after it -- nothing waits for these timers any more; :func:`cancel_scheduler_timers` cancels
  them.
* Python's final garbage collection walks every object of pandas, PyArrow, SciPy and Snakemake
  at exit: 0.3-0.4 s. :func:`gc.freeze` leaves them out of it; files and logs are still closed
  and flushed (by reference counting and ``atexit``), only objects in reference cycles are left
  to the operating system, which frees the whole process anyway.
"""

from __future__ import annotations

import gc
import threading

__all__ = ["end_run", "cancel_scheduler_timers"]

#: The qualified name of the function the scheduler's timers call (snakemake.scheduling.
#: job_scheduler.JobScheduler._schedule_reevalutation, spelled as in Snakemake).
_SCHEDULER_TIMER = "_schedule_reevalutation.<locals>.<lambda>"


def end_run() -> None:
    """Let the Snakemake process end at once; call last in ``onsuccess:``/``onerror:``."""
    cancel_scheduler_timers()
    gc.freeze()


def cancel_scheduler_timers() -> int:
    """Cancel the Snakemake scheduler's pending re-evaluation timers (no other timer); returns
    how many were cancelled. Call only after the scheduler has finished (onsuccess/onerror)."""
    timers = [t for t in threading.enumerate() if _is_scheduler_timer(t)]
    for timer in timers:
        timer.cancel()
    return len(timers)


def _is_scheduler_timer(thread: threading.Thread) -> bool:
    name = getattr(getattr(thread, "function", None), "__qualname__", "")
    return isinstance(thread, threading.Timer) and name.endswith(_SCHEDULER_TIMER)

"""trialmeta.pipeline.run_end: the Snakemake process ends without idle waits."""

import gc
import inspect
import threading
import time

from trialmeta.pipeline import run_end


class _Scheduler:
    """Stands in for Snakemake's JobScheduler: the same method name and timer."""

    def __init__(self):
        self.released = threading.Event()

    def _schedule_reevalutation(self, delay):
        timer = threading.Timer(delay, lambda: self.released.set())
        timer.start()
        return timer


def test_scheduler_timers_are_cancelled_and_others_left_alone():
    scheduler = _Scheduler()
    ours = scheduler._schedule_reevalutation(30)
    other = threading.Timer(30, lambda: None)
    other.start()
    try:
        started = time.monotonic()
        assert run_end.cancel_scheduler_timers() == 1
        ours.join(timeout=5)
        assert not ours.is_alive() and time.monotonic() - started < 5
        assert not scheduler.released.is_set()  # cancelled, not fired
        assert other.is_alive()  # not Snakemake's: untouched
    finally:
        other.cancel()
        other.join()


def test_snakemake_still_schedules_with_this_timer():
    """If Snakemake renames the method or stops using a Timer, this fails (and the run's end
    waits up to a second again): update run_end._SCHEDULER_TIMER."""
    from snakemake.scheduling.job_scheduler import JobScheduler

    source = inspect.getsource(JobScheduler._schedule_reevalutation)
    assert "threading.Timer(" in source and "lambda" in source


def test_end_run_freezes_the_heap():
    try:
        run_end.end_run()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

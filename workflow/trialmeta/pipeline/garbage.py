"""Python's cyclic garbage collector, tuned for jobs that build one analysis's figures or page
after another (:func:`one_analysis_at_a_time`)."""

from __future__ import annotations

import gc

__all__ = ["one_analysis_at_a_time", "FULL_COLLECTION_EVERY", "freeze_job_start"]

#: Analyses between two full garbage collections (:func:`one_analysis_at_a_time`).
FULL_COLLECTION_EVERY = 20


def freeze_job_start() -> None:
    """Freeze what is alive when a job starts (its modules, the warm process's imports): Python's
    full collections never traverse it again. Called by
    :func:`trialmeta.pipeline.jobs.run_step` before every job's ``main``.

    A job holds hundreds of thousands of such objects, all alive to its end. Each automatic full
    collection walked them all: 0.2 CPU-s of the Summary of Findings job (two collections), 0.1
    of the report's (issue 16). Objects the job creates afterwards are collected as before.
    """
    gc.freeze()


def one_analysis_at_a_time(analysis_ids, full_every: int | None = FULL_COLLECTION_EVERY):
    """Yield ``analysis_ids`` for a loop that draws each analysis's figures (or renders its
    page), collecting that analysis's garbage after it.

    A matplotlib figure is a web of reference cycles. Left to Python's automatic collector, a
    figure job spent 15% of its time (the report job 10%) in collections that traversed
    everything alive: the job's tables and every figure not yet collected (issue 16). Here the
    objects alive before the loop are frozen (never traversed again), automatic collection is
    off, and after each analysis a collection of the young generations frees that analysis's
    garbage, looking only at what the analysis allocated; every ``full_every`` analyses a full
    collection frees what reached the old generation, so memory stays flat over a batch of
    hundreds of figures (``None``: never, for loops whose garbage has no cycles that outlive an
    analysis, e.g. the report's pages). The collector's state is restored on exit (what was
    frozen before the loop, :func:`freeze_job_start`, stays frozen).
    """
    was_frozen = gc.get_freeze_count() > 0  # the job's start (freeze_job_start): stays frozen
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i, aid in enumerate(analysis_ids, start=1):
            yield aid
            gc.collect(2 if full_every and i % full_every == 0 else 1)
    finally:
        if was_enabled:
            gc.enable()
        if not was_frozen:
            gc.unfreeze()

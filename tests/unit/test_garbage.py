"""The garbage-collector tuning of the figure and page loops (trialmeta.pipeline.garbage)."""

import gc
import weakref

from trialmeta.pipeline.garbage import one_analysis_at_a_time


class _Node:
    pass


def _cycle():
    node = _Node()
    node.me = node  # a reference cycle: only the cyclic collector frees it
    return weakref.ref(node)


def test_each_analysis_cycles_are_freed_and_the_collector_restored():
    gc.enable()
    refs, seen = [], []
    for aid in one_analysis_at_a_time(["a", "b", "c"], full_every=2):
        assert not gc.isenabled()  # no automatic collection inside the loop
        seen.append(aid)
        refs.append(_cycle())
    assert seen == ["a", "b", "c"]
    assert all(r() is None for r in refs)  # every analysis's garbage was collected
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_young_collections_only_and_a_disabled_collector_stays_disabled():
    gc.disable()
    try:
        refs = [_cycle() for aid in one_analysis_at_a_time(range(3), full_every=None)]
        assert all(r() is None for r in refs)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_interrupted_loop_restores_the_collector():
    gc.enable()
    loop = one_analysis_at_a_time(["a", "b"])
    next(loop)
    loop.close()
    assert gc.isenabled() and gc.get_freeze_count() == 0

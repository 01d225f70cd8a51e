"""Sharing a job's loop with forked copies (trialmeta.pipeline.forked): results in item order, a
child's failure or death is an error, and the report written by several processes is the same,
byte for byte, as the report written by one (issue 16)."""

from __future__ import annotations

import os

import pytest

from helpers.report_tables import CONFIG, engine_tables, load_shipped_trials
from helpers.workflow_project import tree_digests
from trialmeta.pipeline import forked
from trialmeta.report import build_report


@pytest.fixture
def small_shares(monkeypatch):
    monkeypatch.setattr(forked, "MIN_ITEMS_PER_PROCESS", 2)


def test_contiguous_shares_cover_the_items_in_order():
    items = list(range(100))
    shares = forked.contiguous_shares(items, 3)
    assert [len(s) for s in shares] == [33, 34, 33]
    assert [x for s in shares for x in s] == items
    # too few items for a second process: one share; never an empty share
    assert forked.contiguous_shares(items[:40], 4) == [items[:40]]
    assert forked.contiguous_shares([], 2) == []


def test_results_come_back_in_item_order_from_several_processes(small_shares):
    def work(share):
        return [(x, x * x, os.getpid()) for x in share]

    got = forked.map_shares(work, list(range(10)), 3)
    assert [(x, y) for x, y, _ in got] == [(x, x * x) for x in range(10)]
    pids = {pid for _, _, pid in got}
    assert len(pids) == 3 and os.getpid() in pids  # this process did the first share


def test_one_process_or_few_items_run_here():
    got = forked.map_shares(lambda share: [os.getpid() for _ in share], list(range(10)), 4)
    assert got == [os.getpid()] * 10


def test_a_childs_exception_is_raised_with_its_traceback(small_shares):
    def work(share):
        if 7 in share:
            raise ValueError("bad analysis a7")
        return list(share)

    with pytest.raises(RuntimeError, match="(?s)forked worker failed.*ValueError: bad analysis a7"):
        forked.map_shares(work, list(range(8)), 2)


def test_a_child_that_dies_without_answering_is_an_error(small_shares):
    def work(share):
        if 7 in share:
            os._exit(3)
        return list(share)

    with pytest.raises(RuntimeError, match="ended without a result \\(exit code 3\\)"):
        forked.map_shares(work, list(range(8)), 2)


def test_report_pages_rendered_by_three_processes_are_byte_identical(small_shares, tmp_path):
    trials, warnings = load_shipped_trials()
    pooled, studies, _ = engine_tables(trials)
    figs = tmp_path / "figs"
    figs.mkdir()

    def build(out, processes, cache_dir=None):
        build_report(pooled, studies, trials, CONFIG, list(warnings), figs, tmp_path / out,
                     {"run": "x"}, cache_dir=cache_dir, processes=processes)  # fmt: skip
        return tree_digests(tmp_path / out, include=(".",))  # every file of the report

    one = build("one", 1)
    assert len([k for k in one if k.startswith("analyses/")]) >= 6  # every process had pages
    assert build("three", 3) == one
    cache = tmp_path / "cache"
    assert build("cold", 3, cache) == one  # the children filled the page cache
    assert len([d for d in cache.iterdir() if not d.name.startswith(".")]) == len(
        set(pooled.analysis_id)
    )
    assert build("warm", 3, cache) == one

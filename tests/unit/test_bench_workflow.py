"""The measuring parts of tests/benchmarks/bench_workflow.py (issue 16) on small made-up inputs:
the job-log line it parses (written by trialmeta.pipeline.jobs.run_step), the per-stage table,
the materialised vs deduplicated size of results/, the target verdicts, and that the CPU seconds
of a run include its grandchildren. The benchmark itself is run by hand, not by the test suite."""

from __future__ import annotations

import os
import subprocess
import sys
import types

from benchmarks import bench_workflow as bench

STEP = """
import sys, types
from trialmeta.pipeline.jobs import run_step

def main(snakemake, log):
    x = bytearray(64 * 2**20)  # 64 MB resident
    x[::4096] = b"1" * len(x[::4096])
    sum(range(3_000_000))

run_step(types.SimpleNamespace(log=[sys.argv[1]], rule="step"), main)
"""


def test_run_step_logs_process_cpu_seconds_and_peak_rss_as_the_benchmark_parses(tmp_path):
    logs = tmp_path / "logs"
    subprocess.run([sys.executable, "-c", STEP, str(logs / "figures_b002.log")], check=True)
    got = bench.step_seconds(logs)
    assert set(got["steps"]) == set(got["cpu"]) == set(got["rss"]) == {"figures_b002"}
    assert got["cpu"]["figures_b002"] > 0.01
    assert got["rss"]["figures_b002"] > 64  # MB: the bytearray is resident
    assert got["steps"]["figures_b002"] >= got["cpu"]["figures_b002"] * 0.5


def test_stage_rows_group_the_figure_jobs_with_sum_and_max():
    timing = {
        "steps": {"figures_b000": 3.0, "figures_b001": 5.0, "pool": 1.0},
        "cpu": {"figures_b000": 2.0, "figures_b001": 4.0, "pool": 0.5},
        "rss": {"figures_b000": 300.0, "figures_b001": 250.0, "pool": 100.0},
        "render_seconds": 0.0,
    }
    rows = bench.stage_rows(timing, {"figures": 2048, "pool": 10})
    assert [r["stage"] for r in rows] == ["figures (2 jobs)", "pool"]
    fig = rows[0]
    assert (fig["jobs"], fig["process_seconds_sum"], fig["process_seconds_max"]) == (2, 8.0, 5.0)
    assert (fig["cpu_seconds_sum"], fig["peak_rss_mb_max"], fig["output_bytes"]) == (6.0, 300, 2048)
    text = bench.report_text(
        types.SimpleNamespace(analyses=10),
        {
            "data": "SYNTHETIC",
            "targets": bench.verdicts({}),
            "clean_run_cpu_seconds": 1.0,
            "results_bytes_materialised": 1,
            "results_bytes_deduplicated": 1,
        },
        rows,
    )
    assert "figures (2 jobs)" in text and "MISSED" in text


def test_results_size_materialises_hard_links_and_the_dedup_size_counts_them_once(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.svg").write_bytes(b"x" * 1000)
    (tmp_path / "b").mkdir()
    os.link(tmp_path / "a" / "x.svg", tmp_path / "b" / "x.svg")
    (tmp_path / "c.txt").write_bytes(b"y" * 10)
    assert bench.materialised_bytes(tmp_path) == 2010  # what cp -rL / zip writes
    assert bench.deduplicated_bytes(tmp_path) == 1010


def test_target_verdicts():
    got = bench.verdicts(
        {
            "clean_run_wall_seconds": 150,
            "peak_rss_mb_all_processes": 1600.0,
            "results_mb_per_analysis": 0.2,
            "one_row_edit_run_seconds": 9.9,
        }
    )
    assert got["clean_run_wall_seconds"]["verdict"] == "ok"  # <= target
    assert got["peak_rss_mb_all_processes"]["verdict"] == "MISSED"
    assert got["results_mb_per_analysis"]["verdict"] == "ok"
    assert got["noop_run_seconds"]["verdict"] == "MISSED"  # not measured is not met


def test_run_cpu_seconds_count_the_grandchildren(tmp_path, monkeypatch):
    """getrusage(RUSAGE_CHILDREN) around the run counts the jobs' own children (waited for)."""
    burn = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', 'sum(range(20_000_000))'])"
    )
    fake = tmp_path / "snakemake"
    fake.write_text(f"#!{sys.executable}\n{burn}\n", encoding="utf-8")
    fake.chmod(0o755)
    monkeypatch.setattr(bench, "SNAKEMAKE", fake)
    wall, peak, _, cpu = bench.run(tmp_path, [], measure_memory=True)
    assert cpu > 0.2  # the grandchild's loop, not only the (short) child
    assert peak > 0

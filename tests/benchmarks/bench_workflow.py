"""Benchmark the whole Snakemake workflow on SYNTHETIC data (not part of `make test`).

    .venv/bin/python tests/benchmarks/bench_workflow.py [--analyses 1000] [--studies 10] [--cores 2]

Generates SYNTHETIC trial tables (random numbers, clearly labelled: every study_id starts with
"SYNTHETIC", every therapy with "synthetic"), half binary and half continuous analyses, in a
temporary copy of the project (never in data/), then measures:

* a run from clean with ``--cores``: wall time, peak memory (sum of the RSS of snakemake and all
  its child processes, sampled every 0.2 s), the time spent rendering forest plots (sum of the
  ``render seconds`` lines of the figures_b* job logs), the other steps' times, and the overhead
  (wall time not explained by rendering spread over the cores);
* a no-op rerun (nothing to be done);
* a one-row-edit rerun (one trial's events changed; only that analysis's figure batch reruns).

Targets (2-core machine): overhead <= 25% of total; no-op < 5 s; one-row edit < 20 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = ROOT / ".venv" / "bin" / "snakemake"
COPY = ("workflow", "config", "envs")

COLUMNS = [
    "study_id",
    "therapy",
    "therapy_class",
    "comparator",
    "condition",
    "outcome",
    "timepoint_weeks",
    "outcome_type",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "higher_is_better",
    "biomarker_selected",
    "year",
    "source_url",
    "notes",
]


def synthetic_rows(n_analyses: int, n_studies: int, seed: int = 20261122):
    """SYNTHETIC trial rows: random, for timing only. Never real data, never copied into data/."""
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_analyses):
        binary = a % 2 == 0
        effect = rng.normal(0.0, 0.4)
        tau = abs(rng.normal(0.0, 0.2))
        for s in range(n_studies):
            n1, n2 = (int(x) for x in rng.integers(30, 400, size=2))
            theta = effect + rng.normal(0.0, tau)
            row = {
                "study_id": f"SYNTHETIC {a:04d}-{s:02d}",
                "therapy": f"synthetic therapy {a:04d}",
                "therapy_class": f"synthetic class {a % 37:02d}",
                "comparator": "synthetic placebo",
                "condition": f"synthetic condition {a:04d}",
                "outcome": "synthetic response" if binary else "synthetic score change",
                "timepoint_weeks": str(int(rng.choice([12, 24, 52]))),
                "outcome_type": "binary" if binary else "continuous",
                "higher_is_better": "true",
                "biomarker_selected": "true" if rng.random() < 0.5 else "false",
                "year": str(int(rng.integers(1995, 2025))),
                "source_url": "https://example.invalid/synthetic",
                "notes": "SYNTHETIC benchmark row (random numbers)",
            }
            if binary:
                p2 = float(rng.uniform(0.1, 0.5))
                odds = p2 / (1 - p2) * np.exp(theta)
                p1 = odds / (1 + odds)
                row.update(
                    events_treat=str(int(rng.binomial(n1, p1))),
                    n_treat=str(n1),
                    events_ctrl=str(int(rng.binomial(n2, p2))),
                    n_ctrl=str(n2),
                )
            else:
                sd1, sd2 = (float(x) for x in rng.uniform(5, 15, size=2))
                m2 = float(rng.normal(-5, 3))
                m1 = m2 + theta * (sd1 + sd2) / 2 + rng.normal(0, 1)
                row.update(
                    mean_treat=f"{m1:.2f}",
                    sd_treat=f"{sd1:.2f}",
                    n_treat=str(n1),
                    mean_ctrl=f"{m2:.2f}",
                    sd_ctrl=f"{sd2:.2f}",
                    n_ctrl=str(n2),
                )
            rows.append(row)
    return rows


def write_table(rows, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in COLUMNS})


class PeakMemory:
    """Peak summed RSS of a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval, self.peak, self._stop = pid, interval, 0, False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop:
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop = True
        self._thread.join()
        return self.peak


def run(workdir: Path, args, *, measure_memory: bool = False):
    cmd = [
        str(SNAKEMAKE),
        "--snakefile",
        "workflow/Snakefile",
        "--workflow-profile",
        "workflow/profiles/default",
        "--configfile",
        "bench_config.yaml",
        *args,
    ]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    mem = PeakMemory(proc.pid) if measure_memory else None
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    peak = mem.stop() if mem else None
    if proc.returncode != 0:
        sys.stderr.write(out[-5000:])
        raise SystemExit(f"snakemake {' '.join(args)} failed ({proc.returncode})")
    return wall, peak, out


def step_seconds(logs: Path) -> dict:
    """Per-rule wall seconds (process start to end) and render seconds from the job logs."""
    steps, render = {}, 0.0
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"process seconds: ([0-9.]+)", text)
        if m:
            steps[log.stem] = float(m.group(1))
        # "render seconds: forest 12.3, exploration 4.5 (...)" (workflow/scripts/figures.py)
        for line in re.findall(r"render seconds: ([^\n]*)", text):
            render += sum(float(x) for x in re.findall(r"(?:forest|exploration) ([0-9.]+)", line))
    return {"steps": steps, "render_seconds": render}


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--analyses", type=int, default=1000)
    ap.add_argument("--studies", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary project copy")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    a = ap.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="trialmeta-bench-"))
    try:
        for name in COPY:
            shutil.copytree(
                ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        table = tmp / "synthetic" / "SYNTHETIC_trials.csv"
        rows = synthetic_rows(a.analyses, a.studies)
        write_table(rows, table)
        (tmp / "bench_config.yaml").write_text(
            "# SYNTHETIC benchmark data (tests/benchmarks/bench_workflow.py)\n"
            "trials: [synthetic/SYNTHETIC_trials.csv]\n"
            "results: results\n"
            "group_by: [therapy, comparator, condition, outcome, outcome_type]\n"
            "subgroups: [biomarker_selected]\n"
            "metaregression: [year, timepoint_weeks]\n",
            encoding="utf-8",
        )
        cores = ["--cores", str(a.cores)]
        wall, peak, out = run(tmp, cores, measure_memory=True)
        logs = next((tmp / ".snakemake" / "trialmeta").glob("*/logs"))
        timing = step_seconds(logs)
        n_jobs = len(re.findall(r"^Finished jobid", out, flags=re.M))
        render_wall = timing["render_seconds"] / a.cores
        overhead = wall - render_wall

        noop_wall, _, noop_out = run(tmp, ["-n", *cores])
        assert "Nothing to be done" in noop_out, noop_out[-2000:]
        noop_run_wall, _, _ = run(tmp, cores)

        # one-row edit: change one trial's treatment events (row 2 of the table, a binary row)
        lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
        cells = next(csv.reader([lines[1]]))
        cells[COLUMNS.index("events_treat")] = str(int(cells[COLUMNS.index("events_treat")]) + 1)
        import io

        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        lines[1] = buf.getvalue()
        table.write_text("".join(lines), encoding="utf-8")
        _, _, dry = run(tmp, ["-n", *cores])
        edit_jobs = sorted(set(re.findall(r"^(figures_b\d+)\s+1$", dry, flags=re.M)))
        edit_rules = sorted(set(re.findall(r"^(\w+)\s+1$", dry, flags=re.M)) - {"all"})
        edit_wall, _, _ = run(tmp, cores)
        edit_steps = step_seconds(logs)["steps"]

        result = {
            "data": f"SYNTHETIC: {a.analyses} analyses x {a.studies} studies ({len(rows)} rows)",
            "cores": a.cores,
            "clean_run_wall_seconds": round(wall, 1),
            "jobs": n_jobs,
            "peak_rss_mb_all_processes": round(peak / 2**20, 1) if peak else None,
            "render_seconds_sum": round(timing["render_seconds"], 1),
            "render_wall_equivalent_seconds": round(render_wall, 1),
            "overhead_seconds": round(overhead, 1),
            "overhead_fraction": round(overhead / wall, 3),
            "step_process_seconds": {k: round(v, 1) for k, v in sorted(timing["steps"].items())},
            "noop_dry_run_seconds": round(noop_wall, 2),
            "noop_run_seconds": round(noop_run_wall, 2),
            "one_row_edit_figure_jobs": edit_jobs,
            "one_row_edit_run_seconds": round(edit_wall, 1),
            "one_row_edit_step_process_seconds": {
                r: round(edit_steps[r], 1) for r in edit_rules if r in edit_steps
            },
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
        if a.json:
            a.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

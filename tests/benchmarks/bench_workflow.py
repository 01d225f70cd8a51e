"""Benchmark the whole Snakemake workflow on SYNTHETIC data (not part of `make test`).

    .venv/bin/python tests/benchmarks/bench_workflow.py [--analyses 1000] [--studies 10] \
        [--cores 2] [--repeat 3] [--json out.json] [--keep]

Generates SYNTHETIC trial tables (random numbers, clearly labelled: every study_id starts with
"SYNTHETIC", every therapy with "synthetic"), half binary and half continuous analyses, with a
subgroup and two meta-regression moderators (every figure kind is drawn), in a temporary copy of
the project (never in data/), then measures:

* ``--repeat`` runs from clean with ``--cores``, each in a fresh copy (the JSON keeps the median
  under each key and every value in ``<key>_all``): wall time (``clean_run_wall_seconds``), CPU
  seconds of all processes (``clean_run_cpu_seconds``: getrusage(RUSAGE_CHILDREN) around the run,
  which counts snakemake, its jobs and their children), peak memory
  (``peak_rss_mb_all_processes``: sum of the RSS of snakemake and all its child processes,
  sampled every 0.2 s);
* per stage (one line per rule, the figures_b* jobs grouped into one "figures (N jobs)" line):
  sum and max of the jobs' process seconds, their CPU seconds and peak RSS (the "step seconds"
  line every job log ends with, trialmeta.pipeline.jobs.run_step) and the bytes of their outputs;
  the forest/exploration render seconds of the figure jobs and the overhead (wall time not
  explained by rendering spread over the cores);
* the size of ``results/`` as a copy would have it, every hard link materialised (``cp -rL``,
  zip): ``results_bytes_materialised``, ``results_mb_per_analysis`` (MB = 2**20 bytes); and,
  for information, the on-disk size with hard links counted once (``results_bytes_deduplicated``);
* a no-op rerun (a real run with nothing to do: ``noop_run_seconds``; and its dry run);
* three one-row-edit reruns (one trial's events changed, +1 then -1 then +1; real runs, in which
  only that analysis's figure batch, the tables and the report rerun): their median
  ``one_row_edit_run_seconds`` and each in ``one_row_edit_run_seconds_all``.

Prints the JSON, then the targets next to the measurements (ok / MISSED) and the stage table.
The JSON keys clean_run_wall_seconds, one_row_edit_run_seconds, peak_rss_mb_all_processes, the
options and the "kept <dir>" line are a contract: checks outside the test suite read them.

Targets (issue 16; 1,000 analyses x 10 studies, 2 cores): clean run <= 150 s wall, peak RSS
<= 1,500 MB, results <= 0.3 MB per analysis materialised, one-row edit <= 10 s, no-op <= 3 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import resource
import shutil
import statistics
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
    """Run snakemake in ``workdir``: (wall seconds, peak summed RSS bytes or None, output, CPU
    seconds). CPU seconds: user + system time of snakemake and every process it (transitively)
    waited for -- the jobs and their children -- from getrusage(RUSAGE_CHILDREN) around the run."""
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
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    mem = PeakMemory(proc.pid) if measure_memory else None
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = mem.stop() if mem else None
    if proc.returncode != 0:
        sys.stderr.write(out[-5000:])
        raise SystemExit(f"snakemake {' '.join(args)} failed ({proc.returncode})")
    return wall, peak, out, cpu


def step_seconds(logs: Path) -> dict:
    """Per-job figures from the job logs (``<rule>.log``, ``figures_b<i>.log``): process seconds
    (process start to end), CPU seconds and peak RSS (trialmeta.pipeline.jobs.run_step) and the
    render seconds of the figure jobs."""
    steps, cpu, rss, render = {}, {}, {}, 0.0
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"process seconds: ([0-9.]+)", text)
        if m:
            steps[log.stem] = float(m.group(1))
        m = re.search(r"cpu seconds: ([0-9.]+), peak rss MB: ([0-9.]+)", text)
        if m:
            cpu[log.stem], rss[log.stem] = float(m.group(1)), float(m.group(2))
        # "render seconds: forest 12.3, exploration 4.5 (...)" (workflow/scripts/figures.py)
        for line in re.findall(r"render seconds: ([^\n]*)", text):
            render += sum(float(x) for x in re.findall(r"(?:forest|exploration) ([0-9.]+)", line))
    return {"steps": steps, "cpu": cpu, "rss": rss, "render_seconds": render}


def stage_of(job: str) -> str:
    """The stage of a job log: figures_b<i> -> figures; every other rule is its own stage."""
    return "figures" if re.fullmatch(r"figures_b\d+", job) else job


def stage_rows(timing: dict, output_bytes: dict) -> list[dict]:
    """One row per stage (figures_b* grouped): jobs, sum and max of process and CPU seconds, max
    peak RSS (MB) and output bytes (``output_bytes``: stage -> bytes, see stage_output_bytes)."""
    stages: dict[str, list[str]] = {}
    for job in timing["steps"]:
        stages.setdefault(stage_of(job), []).append(job)
    rows = []
    for stage, jobs in stages.items():
        sec = [timing["steps"][j] for j in jobs]
        cpu = [timing["cpu"][j] for j in jobs if j in timing["cpu"]]
        rss = [timing["rss"][j] for j in jobs if j in timing["rss"]]
        rows.append(
            {
                "stage": f"{stage} ({len(jobs)} jobs)" if len(jobs) > 1 else stage,
                "jobs": len(jobs),
                "process_seconds_sum": round(sum(sec), 2),
                "process_seconds_max": round(max(sec), 2),
                "cpu_seconds_sum": round(sum(cpu), 2) if cpu else None,
                "peak_rss_mb_max": round(max(rss), 1) if rss else None,
                "output_bytes": output_bytes.get(stage),
            }
        )
    return sorted(rows, key=lambda r: -r["process_seconds_sum"])


def stage_output_bytes(workdir: Path) -> dict:
    """Bytes each stage wrote (the ``output:`` files and directories of its jobs, materialised),
    from ``snakemake --summary`` (columns: output file, date, rule, ...)."""
    _, _, summary, _ = run(workdir, ["--summary", "--cores", "1"])
    sizes: dict[str, int] = {}
    for line in summary.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) < 3 or not (workdir / cells[0]).exists():
            continue
        size = materialised_bytes(workdir / cells[0])
        stage = stage_of(cells[2])
        sizes[stage] = sizes.get(stage, 0) + size
    return sizes


def materialised_bytes(path: Path) -> int:
    """Bytes of ``path`` as a copy would have them (``cp -rL``, zip): every file path counted,
    hard links and symbolic links materialised (no inode deduplication)."""
    if path.is_file():
        return path.stat().st_size
    return sum(
        (Path(d) / f).stat().st_size
        for d, _, files in os.walk(path, followlinks=True)
        for f in files
    )


def deduplicated_bytes(path: Path) -> int:
    """Bytes of ``path`` on disk with hard links counted once (apparent size per inode)."""
    seen = {}
    for d, _, files in os.walk(path):
        for f in files:
            st = (Path(d) / f).lstat()
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def make_project(a) -> tuple[Path, Path, int]:
    """A fresh temporary copy of the project with the SYNTHETIC table: (dir, table, rows)."""
    tmp = Path(tempfile.mkdtemp(prefix="trialmeta-bench-"))
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
    return tmp, table, len(rows)


def clean_run(tmp: Path, a) -> dict:
    """One run from clean in ``tmp``: wall, CPU, peak RSS, jobs and the job logs' figures."""
    wall, peak, out, cpu = run(tmp, ["--cores", str(a.cores)], measure_memory=True)
    logs = next((tmp / ".snakemake" / "trialmeta").glob("*/logs"))
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mb": peak / 2**20 if peak else None,
        "jobs": len(re.findall(r"^Finished jobid", out, flags=re.M)),
        "timing": step_seconds(logs),
        "logs": logs,
        "out": out,
    }


#: One-row edits measured after the no-op reruns (the issue asks for a median of 3).
EDITS = 3


def edit_one_row(table: Path, step: int = 1) -> None:
    """Change one trial's treatment events by ``step`` (row 2 of the table, a binary row)."""
    lines = table.read_text(encoding="utf-8").splitlines(keepends=True)
    cells = next(csv.reader([lines[1]]))
    cells[COLUMNS.index("events_treat")] = str(int(cells[COLUMNS.index("events_treat")]) + step)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    lines[1] = buf.getvalue()
    table.write_text("".join(lines), encoding="utf-8")


def one_edit(tmp: Path, table: Path, logs: Path, cores: list, step: int) -> dict:
    """Edit one row, list what a dry run would rerun, then time the real run."""
    edit_one_row(table, step)
    _, _, dry, _ = run(tmp, ["-n", *cores])
    edit_jobs = sorted(set(re.findall(r"^(figures_b\d+)\s+1$", dry, flags=re.M)))
    edit_rules = sorted(set(re.findall(r"^(\w+)\s+1$", dry, flags=re.M)) - {"all"})
    wall, _, out, cpu = run(tmp, cores)
    # a real run: the edited analysis's figure batch and the tables/report were rebuilt
    n_edit = len(re.findall(r"^Finished jobid", out, flags=re.M))
    assert edit_jobs and n_edit >= len(edit_rules) > 0, (edit_rules, out[-2000:])
    steps = step_seconds(logs)["steps"]
    return {
        "wall": wall,
        "cpu": cpu,
        "figure_jobs": edit_jobs,
        "jobs": n_edit,
        "steps": {r: round(steps[r], 1) for r in edit_rules if r in steps},
    }


def reruns(tmp: Path, table: Path, logs: Path, cores: list) -> dict:
    """The no-op dry run, the no-op real run and ``EDITS`` one-row-edit real runs (after clean;
    the edits alternate +1 and -1 so the table ends as generated). Edit keys: the median, every
    value in ``*_all``; jobs and step seconds of the last edit."""
    noop_wall, _, noop_out, _ = run(tmp, ["-n", *cores])
    assert "Nothing to be done" in noop_out, noop_out[-2000:]
    noop_run_wall, _, noop_run_out, _ = run(tmp, cores)
    noop_jobs = len(re.findall(r"^Finished jobid", noop_run_out, flags=re.M))
    edits = [one_edit(tmp, table, logs, cores, 1 if i % 2 == 0 else -1) for i in range(EDITS)]
    walls, cpus = [e["wall"] for e in edits], [e["cpu"] for e in edits]
    return {
        "noop_dry_run_seconds": round(noop_wall, 2),
        "noop_run_seconds": round(noop_run_wall, 2),
        "noop_run_jobs": noop_jobs,
        "one_row_edit_figure_jobs": edits[-1]["figure_jobs"],
        "one_row_edit_jobs": edits[-1]["jobs"],
        "one_row_edit_run_seconds": round(statistics.median(walls), 1),
        "one_row_edit_run_seconds_all": [round(w, 1) for w in walls],
        "one_row_edit_cpu_seconds": round(statistics.median(cpus), 1),
        "one_row_edit_cpu_seconds_all": [round(c, 1) for c in cpus],
        "one_row_edit_step_process_seconds": edits[-1]["steps"],
    }


def summarise(a, n_rows: int, runs: list[dict], results: Path) -> dict:
    """The JSON record of the clean runs (medians; every value in ``*_all``)."""
    last = runs[-1]
    timing = last["timing"]
    wall = [r["wall"] for r in runs]
    cpu = [r["cpu"] for r in runs]
    peak = [r["peak_mb"] for r in runs if r["peak_mb"] is not None]
    render_wall = timing["render_seconds"] / a.cores
    overhead = median(wall) - render_wall
    materialised, dedup = materialised_bytes(results), deduplicated_bytes(results)
    return {
        "data": f"SYNTHETIC: {a.analyses} analyses x {a.studies} studies ({n_rows} rows)",
        "cores": a.cores,
        "repeat": len(runs),
        "clean_run_wall_seconds": round(median(wall), 1),
        "clean_run_wall_seconds_all": [round(x, 1) for x in wall],
        "clean_run_cpu_seconds": round(median(cpu), 1),
        "clean_run_cpu_seconds_all": [round(x, 1) for x in cpu],
        # snakemake itself (DAG, scheduling, checksums) and anything not logged by run_step
        "clean_run_cpu_seconds_outside_jobs": round(last["cpu"] - sum(timing["cpu"].values()), 1),
        "jobs": last["jobs"],
        "peak_rss_mb_all_processes": round(median(peak), 1) if peak else None,
        "peak_rss_mb_all_processes_all": [round(x, 1) for x in peak],
        "render_seconds_sum": round(timing["render_seconds"], 1),
        "render_wall_equivalent_seconds": round(render_wall, 1),
        "overhead_seconds": round(overhead, 1),
        "overhead_fraction": round(overhead / median(wall), 3),
        "step_process_seconds": {k: round(v, 1) for k, v in sorted(timing["steps"].items())},
        "results_bytes_materialised": materialised,
        "results_bytes_deduplicated": dedup,
        "results_mb_per_analysis": round(materialised / 2**20 / a.analyses, 3),
    }


def median(values):
    return statistics.median(values)


# (JSON key, target, unit): the issue-16 targets, for 1,000 analyses x 10 studies on 2 cores
TARGETS = [
    ("clean_run_wall_seconds", 150, "s"),
    ("peak_rss_mb_all_processes", 1500, "MB"),
    ("results_mb_per_analysis", 0.3, "MB"),
    ("one_row_edit_run_seconds", 10, "s"),
    ("noop_run_seconds", 3, "s"),
]


def verdicts(result: dict) -> dict:
    """{key: {"value", "target", "verdict"}}: "ok" when value <= target, else "MISSED"."""
    out = {}
    for key, target, _ in TARGETS:
        value = result.get(key)
        ok = value is not None and value <= target
        out[key] = {"value": value, "target": target, "verdict": "ok" if ok else "MISSED"}
    return out


def report_text(a, result: dict, rows: list[dict]) -> str:
    """The aligned text tables: targets next to the measurements, then the stages."""
    lines = [
        f"Targets (issue 16: 1,000 analyses x 10 studies, 2 cores); this run: {result['data']}"
    ]
    if a.analyses != 1000:
        lines.append("  (not 1,000 analyses: the verdicts are indicative only)")
    for key, target, unit in TARGETS:
        v = result["targets"][key]
        lines.append(
            f"  {key:<30} {v['value']!s:>10} {unit:<2}  target <= {target:<6} {v['verdict']}"
        )
    lines.append(f"  {'clean_run_cpu_seconds':<30} {result['clean_run_cpu_seconds']!s:>10} s")
    outside = result.get("clean_run_cpu_seconds_outside_jobs")
    lines.append(f"  {'  of which outside the jobs':<30} {outside!s:>10} s  (snakemake itself)")
    mat, dedup = result["results_bytes_materialised"], result["results_bytes_deduplicated"]
    lines.append(f"  {'results MB materialised':<30} {mat / 2**20:>10.1f} MB")
    lines.append(f"  {'results MB on disk (dedup)':<30} {dedup / 2**20:>10.1f} MB")
    head = ("stage", "jobs", "proc s sum", "proc s max", "cpu s sum", "peak RSS MB", "output MB")
    lines += ["", "Stages (last clean run; process seconds from the job logs)", ""]
    table = [head]
    for r in rows:
        out_mb = r["output_bytes"] / 2**20 if r["output_bytes"] is not None else None
        table.append(
            (
                r["stage"],
                str(r["jobs"]),
                f"{r['process_seconds_sum']:.1f}",
                f"{r['process_seconds_max']:.1f}",
                "" if r["cpu_seconds_sum"] is None else f"{r['cpu_seconds_sum']:.1f}",
                "" if r["peak_rss_mb_max"] is None else f"{r['peak_rss_mb_max']:.0f}",
                "" if out_mb is None else f"{out_mb:.2f}",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--analyses", type=int, default=1000)
    ap.add_argument("--studies", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--keep", action="store_true", help="keep the temporary project copy")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument(
        "--repeat", type=int, default=1, help="clean runs, each in a fresh copy (median reported)"
    )
    a = ap.parse_args(argv)

    runs, tmp = [], None
    try:
        for i in range(max(1, a.repeat)):
            if tmp is not None:  # only the last copy is kept for the reruns
                shutil.rmtree(tmp, ignore_errors=True)
            tmp, table, n_rows = make_project(a)
            runs.append(clean_run(tmp, a))
            print(f"clean run {i + 1}/{a.repeat}: {runs[-1]['wall']:.1f} s", file=sys.stderr)
        result = summarise(a, n_rows, runs, tmp / "results")
        rows = stage_rows(runs[-1]["timing"], stage_output_bytes(tmp))
        result.update(reruns(tmp, table, runs[-1]["logs"], ["--cores", str(a.cores)]))
        result["stages"] = rows
        result["targets"] = verdicts(result)
        result["load_average_1min_at_end"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result, indent=2))
        print(report_text(a, result, rows))
        if a.json:
            a.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    finally:
        if a.keep and tmp is not None:
            print(f"kept {tmp}", file=sys.stderr)
        elif tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

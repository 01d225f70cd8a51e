"""Scale figure: the SYNTHETIC 1,000-analysis workflow through a local SLURM vs a local run.

    .venv/bin/python tests/benchmarks/bench_slurm.py [--analyses 1000] [--studies 10] [--shipped] [--json out.json]

Not part of `make test` (minutes of CPU). Needs root and the Debian SLURM packages (installed
like tests/workflow/test_slurm.py does). Builds the SYNTHETIC tables of tests/benchmarks/bench_workflow.py
(random numbers, labelled SYNTHETIC) in a temporary project copy, starts a private single-node
SLURM (tests/helpers/slurm_cluster.py), and runs the workflow from clean twice:

* locally: ``--workflow-profile workflow/profiles/default --cores N``;
* on SLURM: ``--workflow-profile workflow/profiles/slurm`` (as shipped, plus
  ``--slurm-keep-successful-logs``).

Reports the wall time of each, the number of SLURM jobs submitted (slurmctld's log) and finished
(jobcomp), and where the time of a SLURM job goes, from slurmd's log and the rules' own logs:

* outer: batch script start -> its first job step (the outer Snakemake starting, parsing the
  workflow and building its one-job DAG, then ``srun``);
* inner: each job step (one per rule; a group job has one per member) minus the rule script's
  own run time ("process seconds" in the rule log): the inner Snakemake starting and parsing;
* parse: a direct measurement of one Snakemake start + Snakefile parse on the finished project
  (``snakemake --list-rules``, fastest of 5; ``snakemake --version`` is the bare start-up).

Per kind of SLURM job (the prepare group, figures_b*, report, ...) it reports the peak memory
(sum of the RSS of every process carrying the job's ``SLURM_JOB_ID``: both Snakemake processes,
``srun`` and the rule's script, sampled every 0.5 s) and the longest duration: the basis of the
``mem_mb`` / ``runtime`` values in workflow/profiles/slurm/profile.yaml.

Also compares the outputs of the two runs byte for byte (same recorded command for both, see
tests/workflow/test_slurm.py) and exits 1 when they differ.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from bench_workflow import synthetic_rows, write_table  # noqa: E402

from helpers.slurm_cluster import SlurmCluster, ensure_slurm_installed  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
COPY = ("workflow", "config", "envs")
COMMAND = "snakemake (tests/benchmarks/bench_slurm.py)"


def make_project(dst: Path, rows) -> None:
    """A project copy with the SYNTHETIC table, or (``rows=None``) with the shipped data."""
    dst.mkdir(parents=True)
    for name in (*COPY, *(("data",) if rows is None else ())):
        shutil.copytree(ROOT / name, dst / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
    if rows is None:  # the shipped data and config as `make run` uses them (config/example.yaml)
        shutil.copyfile(ROOT / "config" / "example.yaml", dst / "bench_config.yaml")
        return
    write_table(rows, dst / "synthetic" / "SYNTHETIC_trials.csv")
    (dst / "bench_config.yaml").write_text(
        "# SYNTHETIC benchmark data (tests/benchmarks/bench_slurm.py)\n"
        "trials: [synthetic/SYNTHETIC_trials.csv]\n"
        "results: results\n"
        "group_by: [therapy, comparator, condition, outcome, outcome_type]\n"
        "subgroups: [biomarker_selected]\n"
        "metaregression: [year, timepoint_weeks]\n",
        encoding="utf-8",
    )


def snakemake(workdir: Path, args, env, timeout: float):
    cmd = [PYTHON, "-m", "snakemake", "--snakefile", "workflow/Snakefile",
           "--configfile", "bench_config.yaml", *args]  # fmt: skip
    t0 = time.perf_counter()
    with open(workdir / "snakemake.out", "w") as out:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            os.killpg(proc.pid, 15)
            proc.wait(30)
            raise SystemExit(f"timed out after {timeout} s: {' '.join(cmd)}") from exc
    wall = time.perf_counter() - t0
    text = (workdir / "snakemake.out").read_text(errors="replace")
    if proc.returncode != 0:
        sys.stderr.write(text[-5000:])
        raise SystemExit(f"snakemake failed ({proc.returncode}) in {workdir}")
    return wall, text


def _ts(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def slurmd_job_times(log: Path) -> dict[int, dict]:
    """Per job id: batch start, first step launch, batch end, and each step's (launch, done)
    (seconds since epoch), from slurmd's log."""
    jobs: dict[int, dict] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r"\[([\dT:.-]+)\] (.*)", line)
        if not m:
            continue
        t, msg = _ts(m.group(1)), m.group(2)
        if mm := re.match(r"Launching batch job (\d+)", msg):
            jobs.setdefault(int(mm.group(1)), {})["start"] = t
        elif mm := re.search(r"launch task StepId=(\d+)\.(\d+)", msg):
            job = jobs.setdefault(int(mm.group(1)), {})
            job.setdefault("first_step", t)
            job.setdefault("steps", {})[int(mm.group(2))] = [t, None]
        elif mm := re.match(r"\[(\d+)\.batch\] done with job", msg):
            jobs.setdefault(int(mm.group(1)), {})["end"] = t
        elif mm := re.match(r"\[(\d+)\.(\d+)\] done with job", msg):
            step = jobs.get(int(mm.group(1)), {}).get("steps", {}).get(int(mm.group(2)))
            if step is not None:
                step[1] = t
    return jobs


class JobMemorySampler(threading.Thread):
    """Peak summed RSS of all processes of each SLURM job (``SLURM_JOB_ID`` in their env)."""

    def __init__(self, interval: float = 0.5):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak: dict[int, int] = defaultdict(int)
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            totals: dict[int, int] = defaultdict(int)
            for proc in psutil.process_iter():
                try:
                    job = proc.environ().get("SLURM_JOB_ID")
                    if job and job.isdigit():
                        totals[int(job)] += proc.memory_info().rss
                except (psutil.Error, OSError):
                    continue
            for job, rss in totals.items():
                self.peak[job] = max(self.peak[job], rss)
            self._stop_event.wait(self.interval)

    def stop(self) -> dict[int, int]:
        self._stop_event.set()
        self.join()
        return dict(self.peak)


def job_kinds(snakemake_output: str) -> dict[int, str]:
    """SLURM job id -> kind of job (rule or group name, figures_b### -> figures_b*), from the
    per-job log directory Snakemake names in its "submitted with SLURM jobid" lines."""
    kinds = {}
    for job, label in re.findall(
        r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/([^/\s]+)/", snakemake_output
    ):
        label = re.sub(r"^(rule|group)_", "", label)
        kinds[int(job)] = re.sub(r"figures_b\d+", "figures_b*", label)
    return kinds


def parse_seconds(workdir: Path, env, repeats: int = 5) -> dict:
    """One Snakemake start-up, and start-up + Snakefile parse, measured directly (fastest of
    ``repeats``: the machine is shared, the minimum is the least disturbed)."""

    def timed(args):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([PYTHON, "-m", "snakemake", *args], cwd=workdir, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)  # fmt: skip
            times.append(time.perf_counter() - t0)
        return min(times)

    start = timed(["--version"])
    parse = timed(["--snakefile", "workflow/Snakefile", "--configfile", "bench_config.yaml",
                   "--list-rules"])  # fmt: skip
    return {"snakemake_start_seconds": round(start, 2),
            "snakemake_start_and_parse_seconds": round(parse, 2),
            "parse_only_seconds": round(parse - start, 2)}  # fmt: skip


def process_seconds(workdir: Path, rules: set[str]) -> float:
    """Sum of the "process seconds" the scripts of ``rules`` logged (their own run time)."""
    total = 0.0
    for log in (workdir / ".snakemake" / "trialmeta").glob("*/logs/*.log"):
        if log.stem not in rules:
            continue
        total += sum(float(x) for x in re.findall(r"process seconds: ([0-9.]+)", log.read_text()))
    return total


def med(xs):
    return round(statistics.median(xs), 2) if xs else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--analyses", type=int, default=1000)
    ap.add_argument("--studies", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2, help="cores of the local run")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--shipped", action="store_true",
                    help="the shipped data/ and config instead of the SYNTHETIC table")  # fmt: skip
    a = ap.parse_args(argv)

    ensure_slurm_installed()
    tmp = Path(tempfile.mkdtemp(prefix="trialmeta-bench-slurm-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["TRIALMETA_COMMAND"] = COMMAND
    rows = None if a.shipped else synthetic_rows(a.analyses, a.studies)
    try:
        # One project directory for both runs (provenance records absolute config paths):
        # run locally, move the results aside, clean, run on SLURM.
        proj = tmp / "project"
        make_project(proj, rows)
        local_wall, local_out = snakemake(
            proj, ["--workflow-profile", "workflow/profiles/default", "--cores", str(a.cores)],
            env, a.timeout,
        )  # fmt: skip
        local_jobs = len(re.findall(r"^Finished jobid", local_out, flags=re.M))
        shutil.move(proj / "results", tmp / "local_results")
        shutil.rmtree(proj / ".snakemake")
        slurm = proj

        cluster = SlurmCluster(tmp / "cluster")
        try:
            cluster.start()
            slurm_env = cluster.env(env)
            sampler = JobMemorySampler()
            sampler.start()
            try:
                slurm_wall, slurm_out = snakemake(
                    slurm, ["--workflow-profile", "workflow/profiles/slurm",
                            "--slurm-keep-successful-logs"], slurm_env, a.timeout,
                )  # fmt: skip
            finally:
                peak_rss = sampler.stop()
            submitted = cluster.submitted_job_ids()
            finished = cluster.finished_jobs()
            times = slurmd_job_times(cluster.slurmd_log)
            node = f"{cluster.cpus} CPUs, RealMemory {cluster.real_memory_mb} MB"
        finally:
            cluster.stop()

        remote_jobs = re.findall(r"^\s*rule (\w+):", slurm_out, re.M)
        remote = set(remote_jobs)
        local_rules = set(re.findall(r"^\s*localrule (\w+):", slurm_out, re.M))
        done = [j for j in times.values() if {"start", "end", "first_step"} <= set(j)]
        durations = [j["end"] - j["start"] for j in done]
        outer = [j["first_step"] - j["start"] for j in done]
        steps = [b - a for j in done for a, b in j.get("steps", {}).values() if b is not None]
        proc_s = process_seconds(slurm, remote)
        busy = (max(j["end"] for j in done) - min(j["start"] for j in done)) if done else None
        parse = parse_seconds(slurm, slurm_env)

        # every published file, both ways
        local_files = {p.relative_to(tmp / "local_results").as_posix(): p
                       for p in (tmp / "local_results").rglob("*") if p.is_file()}  # fmt: skip
        slurm_files = {p.relative_to(slurm / "results").as_posix(): p
                       for p in (slurm / "results").rglob("*") if p.is_file()}  # fmt: skip
        differ = sorted(set(local_files) ^ set(slurm_files)) + [
            r for r in sorted(set(local_files) & set(slurm_files))
            if local_files[r].read_bytes() != slurm_files[r].read_bytes()
        ]  # fmt: skip
        n = len(done)
        kinds = job_kinds(slurm_out)
        by_kind: dict[str, dict] = {}
        for job_id, kind in sorted(kinds.items()):
            k = by_kind.setdefault(kind, {"jobs": 0, "peak_rss_mb_max": 0.0, "seconds_max": 0.0})
            k["jobs"] += 1
            k["peak_rss_mb_max"] = round(
                max(k["peak_rss_mb_max"], peak_rss.get(job_id, 0) / 2**20), 1
            )
            t = times.get(job_id, {})
            if {"start", "end"} <= set(t):
                k["seconds_max"] = round(max(k["seconds_max"], t["end"] - t["start"]), 1)

        result = {
            "data": "shipped data/ and config/config.yaml"
            if rows is None
            else f"SYNTHETIC: {a.analyses} analyses x {a.studies} studies ({len(rows)} rows)",
            "slurm_node": node,
            "local_run": {
                "cores": a.cores,
                "wall_seconds": round(local_wall, 1),
                "snakemake_jobs": local_jobs,
            },  # fmt: skip
            "slurm_run": {
                "wall_seconds": round(slurm_wall, 1),
                "slurm_jobs_submitted": len(submitted),
                "slurm_jobs_completed": sum(j.state == "COMPLETED" for j in finished),
                "snakemake_jobs_on_slurm": len(remote_jobs),
                "rules_local": sorted(local_rules),
                "first_job_start_to_last_job_end_seconds": round(busy, 1) if busy else None,
                "job_seconds_median": med(durations),
                "job_seconds_max": round(max(durations), 1) if durations else None,
                "sum_job_seconds": round(sum(durations), 1),
                "sum_script_process_seconds": round(proc_s, 1),
                "per_job": {
                    "outer_snakemake_start_parse_dag_seconds_median": med(outer),
                    "job_steps": len(steps),
                    "inner_snakemake_start_and_parse_seconds_per_step": (
                        round((sum(steps) - proc_s) / len(steps), 2) if steps else None
                    ),
                    "snakemake_overhead_seconds_per_job": (
                        round((sum(durations) - proc_s) / n, 2) if n else None
                    ),
                },
            },
            "slurm_jobs_by_kind": by_kind,
            "parse_measured_directly": parse,
            "outputs_identical": not differ and len(local_files) > 0,
            "outputs_compared": len(local_files),
            "outputs_differing": differ[:20],
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
        if a.json:
            a.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        if not result["outputs_identical"]:
            raise SystemExit(f"outputs differ between the local and the SLURM run: {differ[:20]}")
    finally:
        if a.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

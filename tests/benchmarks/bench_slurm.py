"""Scale figure: the SYNTHETIC 1,000-analysis workflow through a local SLURM vs a local run.

    .venv/bin/python tests/benchmarks/bench_slurm.py [--analyses 1000] [--studies 10] [--json out.json]

Not part of `make test` (minutes of CPU). Needs root and the Debian SLURM packages (installed
like tests/test_slurm.py does). Builds the SYNTHETIC tables of tests/benchmarks/bench_workflow.py
(random numbers, labelled SYNTHETIC) in a temporary project copy, starts a private single-node
SLURM (tests/slurm_cluster.py), and runs the workflow from clean twice:

* locally: ``--workflow-profile workflow/profiles/default --cores N``;
* on SLURM: ``--workflow-profile workflow/profiles/slurm`` (as shipped, plus
  ``--slurm-keep-successful-logs``).

Reports the wall time of each, the number of SLURM jobs submitted (slurmctld's log) and finished
(jobcomp), and per SLURM job, from slurmd's log and the rules' own logs: the time from the batch
script starting to its first job step (the outer Snakemake starting and parsing the workflow),
the whole job duration, and the script time inside it ("process seconds" in the rule logs); the
difference is what Snakemake costs per job (two starts + parses). Also compares the outputs of
the two runs byte for byte (same recorded command for both, see tests/test_slurm.py).
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
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from bench_workflow import synthetic_rows, write_table  # noqa: E402
from slurm_cluster import SlurmCluster, ensure_slurm_installed  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
COPY = ("workflow", "config", "envs")
COMMAND = "snakemake (tests/benchmarks/bench_slurm.py)"


def make_project(dst: Path, rows) -> None:
    dst.mkdir(parents=True)
    for name in COPY:
        shutil.copytree(ROOT / name, dst / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
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
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 15)
            proc.wait(30)
            raise SystemExit(f"timed out after {timeout} s: {' '.join(cmd)}")
    wall = time.perf_counter() - t0
    text = (workdir / "snakemake.out").read_text(errors="replace")
    if proc.returncode != 0:
        sys.stderr.write(text[-5000:])
        raise SystemExit(f"snakemake failed ({proc.returncode}) in {workdir}")
    return wall, text


def _ts(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f").timestamp()


def slurmd_job_times(log: Path) -> dict[int, dict]:
    """Per job id: batch start, first step launch, batch end (seconds since epoch)."""
    jobs: dict[int, dict] = {}
    for line in log.read_text(errors="replace").splitlines():
        m = re.match(r"\[([\dT:.-]+)\] (.*)", line)
        if not m:
            continue
        t, msg = _ts(m.group(1)), m.group(2)
        if mm := re.match(r"Launching batch job (\d+)", msg):
            jobs.setdefault(int(mm.group(1)), {})["start"] = t
        elif mm := re.search(r"launch task StepId=(\d+)\.(\d+)", msg):
            jobs.setdefault(int(mm.group(1)), {}).setdefault("first_step", t)
        elif mm := re.match(r"\[(\d+)\.batch\] done with job", msg):
            jobs.setdefault(int(mm.group(1)), {})["end"] = t
    return jobs


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
    a = ap.parse_args(argv)

    ensure_slurm_installed()
    tmp = Path(tempfile.mkdtemp(prefix="trialmeta-bench-slurm-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env["TRIALMETA_COMMAND"] = COMMAND
    rows = synthetic_rows(a.analyses, a.studies)
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
            slurm_wall, slurm_out = snakemake(
                slurm, ["--workflow-profile", "workflow/profiles/slurm",
                        "--slurm-keep-successful-logs"], slurm_env, a.timeout,
            )  # fmt: skip
            submitted = cluster.submitted_job_ids()
            finished = cluster.finished_jobs()
            times = slurmd_job_times(cluster.slurmd_log)
            node = f"{cluster.cpus} CPUs, RealMemory {cluster.real_memory_mb} MB"
        finally:
            cluster.stop()

        remote = set(re.findall(r"^\s*rule (\w+):", slurm_out, re.M))
        local_rules = set(re.findall(r"^\s*localrule (\w+):", slurm_out, re.M))
        durations = [j["end"] - j["start"] for j in times.values() if {"start", "end"} <= set(j)]
        outer = [j["first_step"] - j["start"] for j in times.values()
                 if {"start", "first_step"} <= set(j)]  # fmt: skip
        proc_s = process_seconds(slurm, remote)
        files_local = {p.relative_to(tmp / "local_results"): p
                       for p in (tmp / "local_results").rglob("*") if p.is_file()}  # fmt: skip
        differ = [str(r) for r, p in files_local.items()
                  if not (slurm / "results" / r).is_file()
                  or (slurm / "results" / r).read_bytes() != p.read_bytes()]  # fmt: skip

        result = {
            "data": f"SYNTHETIC: {a.analyses} analyses x {a.studies} studies ({len(rows)} rows)",
            "slurm_node": node,
            "local_run": {"cores": a.cores, "wall_seconds": round(local_wall, 1),
                          "snakemake_jobs": local_jobs},
            "slurm_run": {
                "wall_seconds": round(slurm_wall, 1),
                "slurm_jobs_submitted": len(submitted),
                "slurm_jobs_completed": sum(j.state == "COMPLETED" for j in finished),
                "rules_on_slurm": len(remote),
                "rules_local": sorted(local_rules),
                "job_seconds_median": med(durations),
                "job_seconds_max": round(max(durations), 1) if durations else None,
                "outer_snakemake_start_and_parse_seconds_median": med(outer),
                "sum_job_seconds": round(sum(durations), 1),
                "sum_script_process_seconds": round(proc_s, 1),
                "snakemake_overhead_seconds_per_job": (
                    round((sum(durations) - proc_s) / len(durations), 2) if durations else None
                ),
            },
            "outputs_identical": not differ and len(files_local) > 0,
            "outputs_compared": len(files_local),
            "outputs_differing": differ[:20],
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

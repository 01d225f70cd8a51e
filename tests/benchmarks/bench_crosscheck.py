"""The cost of the run-time cross-check (double programming) on SYNTHETIC data
(not part of `make test`).

    .venv/bin/python tests/benchmarks/bench_crosscheck.py [--analyses 1000] [--studies 10] [--cores 2]

One run from clean of the whole workflow on the SYNTHETIC trial tables of bench_workflow.py (in a
temporary copy of the project), then: the crosscheck job's wall and process seconds (its log),
the run's wall time and the sum of every job's process seconds, and the crosscheck's share of
both. Then the cross-check alone in this process, without the import cost (PyMARE imports sympy
and scipy.stats: most of the job's time on small runs). Target: under 5% of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_workflow import COPY, ROOT, run, step_seconds, synthetic_rows, write_table  # noqa: E402


def _job_wall_seconds(log: Path) -> float | None:
    m = re.search(r"step seconds: ([0-9.]+)", log.read_text(encoding="utf-8", errors="replace"))
    return float(m.group(1)) if m else None


def _in_process(work: Path, config: dict) -> dict:
    """The cross-check computed again in this process from the run's pooled tables."""
    import pandas as pd

    from trialmeta.tables.crosscheck import crosscheck_table

    stage = next(work.glob("*/stage/tables"))
    pooled = pd.read_parquet(stage / "pooled.parquet")
    studies = pd.read_parquet(stage / "studies.parquet")
    crosscheck_table(pooled.head(50), studies, config["tau2_methods"])  # warm: imports
    t0 = time.perf_counter()
    table, _ = crosscheck_table(pooled, studies, config["tau2_methods"])
    return {
        "seconds": round(time.perf_counter() - t0, 2),
        "rows": len(table),
        "analyses": int(table["analysis_id"].nunique()),
        "all_agree": bool(table["agree"].all()),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--analyses", type=int, default=1000)
    ap.add_argument("--studies", type=int, default=10)
    ap.add_argument("--cores", type=int, default=2)
    a = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="trialmeta-bench-crosscheck-"))
    try:
        for name in COPY:
            shutil.copytree(
                ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        write_table(synthetic_rows(a.analyses, a.studies), tmp / "synthetic" / "SYNTHETIC.csv")
        (tmp / "bench_config.yaml").write_text(
            "# SYNTHETIC benchmark data (tests/benchmarks/bench_crosscheck.py)\n"
            "trials: [synthetic/SYNTHETIC.csv]\n"
            "results: results\n"
            "group_by: [therapy, comparator, condition, outcome, outcome_type]\n",
            encoding="utf-8",
        )
        wall, _, _, _ = run(tmp, ["--cores", str(a.cores)])
        logs = next((tmp / ".snakemake" / "trialmeta").glob("*/logs"))
        steps = step_seconds(logs)["steps"]
        provenance = json.loads((tmp / "results" / "provenance.json").read_text())
        job_wall = _job_wall_seconds(logs / "crosscheck.log")
        result = {
            "data": f"SYNTHETIC: {a.analyses} analyses x {a.studies} studies",
            "cores": a.cores,
            "run_wall_seconds": round(wall, 1),
            "sum_of_job_process_seconds": round(sum(steps.values()), 1),
            "crosscheck_job_wall_seconds": job_wall,
            "crosscheck_job_process_seconds": steps.get("crosscheck"),
            "crosscheck_share_of_run_wall": round(job_wall / wall, 4) if job_wall else None,
            "crosscheck_share_of_process_seconds": round(
                steps.get("crosscheck", 0.0) / sum(steps.values()), 4
            ),
            "crosscheck_in_process_without_imports": _in_process(
                tmp / ".snakemake" / "trialmeta", provenance["config"]
            ),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

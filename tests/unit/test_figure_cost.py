"""Cost guard of the figure job (issue 16): fails when drawing one analysis's figures becomes more
than 2x as expensive, RELATIVE to a calibration workload measured in the same test.

What is timed (CPU seconds of this process, ``time.process_time``, best of 3 rounds):

* (a) the work of one ``figures_b*`` job per analysis: :func:`trialmeta.plots.forest.render_forest_plots`
  plus :func:`trialmeta.plots.exploration_figures.render_exploration_figures` for
  ``N_ANALYSES`` SYNTHETIC analyses of 10 studies each (one binary, one continuous; a subgroup
  moderator and two meta-regression moderators, so that every figure kind is drawn: forest,
  subgroup forest, bubble, leave-one-out, cumulative, funnel), in the formats the default
  configuration writes. The tables come from the package's own pipeline functions.
* (b) a calibration workload that uses no trialmeta code: a plain matplotlib Figure with about as
  many text artists and lines, saved as SVG and PNG, ``CALIBRATION_REPEATS`` times, under
  matplotlib's default rcParams.

The ratio (a)/(b) cancels most of the machine's speed and load; the test asserts it is at most
2x the ratio recorded in tests/data/figure_cost_baseline.json (measured on the development
machine). After a deliberate change of the figures' cost (faster or slower), regenerate the
baseline with ONE command and commit the JSON:

    .venv/bin/python tests/unit/test_figure_cost.py --write-baseline
"""

from __future__ import annotations

import datetime as dt
import io
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "tests" / "data" / "figure_cost_baseline.json"
REGENERATE = ".venv/bin/python tests/unit/test_figure_cost.py --write-baseline"
N_ANALYSES = 2
N_STUDIES = 10
CALIBRATION_REPEATS = 2
ROUNDS = 3
TOLERANCE = 2.0
GROUP_BY = ["therapy", "comparator", "condition", "outcome", "outcome_type"]

if str(ROOT / "tests") not in sys.path:  # run as a script (--write-baseline)
    sys.path.insert(0, str(ROOT / "tests"))


def figure_inputs(tmp: Path):
    """(pooled, studies, trials, exploration tables, settings, analysis ids) of the SYNTHETIC
    analyses, through the same package functions as the workflow's stages."""
    from benchmarks.bench_workflow import synthetic_rows, write_table
    from trialmeta.inputs.analyses import assign_analysis_ids
    from trialmeta.inputs.ingest import load_trials
    from trialmeta.inputs.settings import Settings
    from trialmeta.inputs.validate import validate_trials
    from trialmeta.tables.effects import compute_effect_sizes
    from trialmeta.tables.exploration import exploration_tables
    from trialmeta.tables.pooled import pool_analyses

    path = tmp / "SYNTHETIC_trials.csv"
    write_table(synthetic_rows(N_ANALYSES, N_STUDIES), path)
    settings = Settings.coerce(
        {
            "trials": [str(path)],
            "group_by": GROUP_BY,
            "subgroups": ["biomarker_selected"],
            "metaregression": ["year", "timepoint_weeks"],
        }
    )
    trials, _ = validate_trials(load_trials([str(path)]), GROUP_BY)
    if "analysis_id" not in trials.columns:
        trials = assign_analysis_ids(trials, GROUP_BY)
    effects = compute_effect_sizes(
        trials, measures=settings.measures.as_dict(), continuity=settings.continuity.as_dict()
    )
    pooled, studies = pool_analyses(
        effects,
        GROUP_BY,
        tau2_methods=list(settings.tau2_methods),
        ci_methods=list(settings.ci_methods),
        prediction_interval=settings.prediction_interval,
        level=settings.level,
        models=[m for m in settings.models if m != "glmm"],
    )
    tables = exploration_tables(effects, trials, settings)
    ids = sorted(set(pooled["analysis_id"]))
    return pooled, studies, trials, tables, settings, ids


def draw_figures(inputs, out_dir: Path) -> list[Path]:
    """Workload (a): what a figures_b* job draws for these analyses."""
    from trialmeta.plots.exploration_figures import render_exploration_figures
    from trialmeta.plots.forest import render_forest_plots

    pooled, studies, trials, tables, settings, ids = inputs
    formats = settings.figures.formats
    forest = render_forest_plots(pooled, studies, trials, settings, out_dir, ids, formats=formats)
    more = render_exploration_figures(
        pooled, studies, trials, tables, settings, out_dir, ids, formats=formats
    )
    return [*forest, *more]


def calibration_workload(repeats: int = CALIBRATION_REPEATS) -> int:
    """Workload (b), no trialmeta code: a forest-plot-like matplotlib figure (about 60 text
    artists, 40 lines, 20 markers) saved as SVG and PNG, ``repeats`` times. Returns bytes."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    total = 0
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # whatever trialmeta's style set, restored on exit
        for r in range(repeats):
            fig = Figure(figsize=(9, 6))
            FigureCanvasAgg(fig)
            ax = fig.add_axes((0.35, 0.1, 0.4, 0.8))
            for i in range(20):
                y = 20 - i
                ax.plot([i / 20 - 0.3, i / 20 + 0.3], [y, y], color="black", lw=1)
                ax.plot([i / 20], [y], marker="s", color="tab:blue", ms=4 + i % 5)
                fig.text(0.02, 0.1 + 0.04 * i, f"Study {r}-{i:02d} (20{i:02d})", fontsize=8)
                fig.text(0.78, 0.1 + 0.04 * i, f"{i / 7:.2f} [{i / 9:.2f}, {i / 5:.2f}]")
                fig.text(0.92, 0.1 + 0.04 * i, f"{5 + i / 3:.1f}%", fontsize=8)
            ax.axvline(0.0, color="grey", ls="--")
            ax.set_title("Calibration forest-like figure")
            ax.set_xlabel("log ratio")
            for fmt in ("svg", "png"):
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt, dpi=150)
                total += buf.tell()
    return total


def cpu_seconds(fn, *args) -> float:
    t0 = time.process_time()
    fn(*args)
    return time.process_time() - t0


def measure(tmp: Path) -> dict:
    """Best-of-ROUNDS CPU seconds of both workloads, interleaved, and their ratio."""
    inputs = figure_inputs(tmp)
    figures, calibration = [], []
    for r in range(ROUNDS):
        calibration.append(cpu_seconds(calibration_workload))
        figures.append(cpu_seconds(draw_figures, inputs, tmp / f"figures_{r}"))
    n_files = len(list((tmp / "figures_0").iterdir()))
    per_analysis = min(figures) / len(inputs[5])
    return {
        "figure_cpu_seconds_per_analysis": round(per_analysis, 4),
        "calibration_cpu_seconds": round(min(calibration), 4),
        "ratio": round(per_analysis / min(calibration), 4),
        "analyses": len(inputs[5]),
        "files_per_round": n_files,
        "formats": list(inputs[4].figures.formats),
    }


def load_baseline() -> dict:
    return json.loads(BASELINE.read_text(encoding="utf-8"))


@pytest.mark.xdist_group("timing")
def test_figure_job_cost_has_not_regressed(tmp_path):
    baseline = load_baseline()
    got = measure(tmp_path)
    # every figure kind was drawn (else the workload silently shrank and the guard is void)
    names = {p.name for p in (tmp_path / "figures_0").iterdir()}
    for kind in ("subgroups-", "bubble-", "leave_one_out", "cumulative", "funnel"):
        assert any(f".{kind}" in n for n in names), (kind, sorted(names)[:10])
    limit = TOLERANCE * baseline["ratio"]
    assert got["ratio"] <= limit, (
        f"drawing one analysis's figures now costs {got['ratio']:.2f}x the calibration workload "
        f"(baseline {baseline['ratio']:.2f}x, limit {limit:.2f}x): the figures job became more "
        f"than {TOLERANCE:g}x slower. Measured {got}. If this is deliberate, regenerate the "
        f"baseline: {REGENERATE}"
    )


def write_baseline() -> dict:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="figure-cost-") as tmp:
        got = measure(Path(tmp))
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "workflow"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    record = {
        "ratio": got["ratio"],
        "about": (
            "CPU seconds to draw one SYNTHETIC analysis's figures (forest + exploration) divided "
            "by the CPU seconds of a fixed matplotlib calibration workload; "
            "tests/unit/test_figure_cost.py fails above 2x this ratio."
        ),
        "regenerate": REGENERATE,
        "measured_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit + (" + uncommitted changes in workflow/" if dirty else ""),
        "machine": f"{platform.node()} {platform.machine()} python {platform.python_version()}",
        "measurement": got,
    }
    BASELINE.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-baseline"]:
        print(json.dumps(write_baseline(), indent=2))
    else:
        sys.exit(f"usage: {REGENERATE}")

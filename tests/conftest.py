"""Shared pytest fixtures. Test helpers live in the package tests/helpers.

Tests are grouped: tests/unit (one module of the package at a time), tests/metafor (numbers
against metafor 3.8-1 and the independent engines PyMARE and statsmodels), tests/workflow (the
Snakemake workflow end to end, the browser and SLURM tests).
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from helpers.reference_data import load_reference  # noqa: E402
from helpers.report_tables import EXPL_CONFIG, GROUP_BY, TRIALS_CSV  # noqa: E402


@pytest.fixture(scope="session")
def project_root():
    return ROOT


# ------------------------------------------------- the report with every exploration section
def _trials(tmp):
    from trialmeta.inputs.analyses import assign_analysis_ids
    from trialmeta.inputs.ingest import load_trials
    from trialmeta.inputs.validate import validate_trials

    bcg, _ = load_reference("dat.bcg")
    bcg["therapy_class"] = "BCG vaccine"
    # a true/false moderator with >= 3 trials per level (no few-trials caveat)
    bcg["biomarker_selected"] = ["true" if a == "random" else "false" for a in bcg["alloc"]]
    path = tmp / "bcg.csv"
    bcg.to_csv(path, index=False)
    df = load_trials([str(TRIALS_CSV), str(path)])
    df, _ = validate_trials(df, GROUP_BY)
    if "analysis_id" not in df.columns:
        df = assign_analysis_ids(df, GROUP_BY)
    return df


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    from trialmeta.plots.exploration_figures import render_exploration_figures
    from trialmeta.plots.forest import render_forest_plots
    from trialmeta.report import build_report
    from trialmeta.tables.effects import compute_effect_sizes
    from trialmeta.tables.exploration import exploration_tables
    from trialmeta.tables.pooled import pool_analyses

    tmp = tmp_path_factory.mktemp("explore_report")
    cfg = EXPL_CONFIG
    trials = _trials(tmp)
    effects = compute_effect_sizes(trials, measures=cfg["measures"], continuity=cfg["continuity"])
    pooled, studies = pool_analyses(
        effects,
        cfg["group_by"],
        tau2_methods=cfg["tau2_methods"],
        ci_methods=cfg["ci_methods"],
        prediction_interval=cfg["prediction_interval"],
        level=cfg["level"],
        models=cfg["models"],
    )
    tables = exploration_tables(effects, trials, cfg)
    ids = sorted(set(pooled.analysis_id))
    figs = tmp / "figures_src"
    render_forest_plots(pooled, studies, trials, cfg, figs, ids)
    written = render_exploration_figures(pooled, studies, trials, tables, cfg, figs, ids)
    out = tmp / "report"
    build_report(pooled, studies, trials, cfg, [], figs, out, {}, exploration=tables)
    aid_of = lambda text: trials.loc[trials["study_id"] == text, "analysis_id"].iloc[0]  # noqa: E731
    return {
        "trials": trials,
        "pooled": pooled,
        "studies": studies,
        "effects": effects,
        "tables": tables,
        "out": out,
        "figs": figs,
        "written": written,
        "bcg": aid_of("Aronson 1948"),
        "intralipid": aid_of("Dakhly 2016"),
        "tocilizumab": aid_of("OPTION 2008"),
        "ids": ids,
    }

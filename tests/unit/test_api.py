"""The public Python API (trialmeta.meta_analysis and its result objects): the README example
runs and prints what the README shows, the numbers are the workflow's, summary / conf_int /
to_frame / exploration tables, errors for bad input, and ``import trialmeta`` stays cheap."""

import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import trialmeta
from helpers.reference_data import load_reference
from helpers.report_tables import (
    CONFIG,
    GROUP_BY,
    ROOT,
    TRIALS_CSV,
    engine_tables,
    load_shipped_trials,
)
from trialmeta.api import ExplorationResult, MetaAnalysisResult
from trialmeta.inputs.errors import InputError
from trialmeta.tables import exploration as ex
from trialmeta.tables.effects import compute_effect_sizes
from trialmeta.tables.pooled import pool_analyses

TOCILIZUMAB = "il-6-receptor-placebo-csdmard-rheumatoid-arthritis-acr20-0a6dfb66a8fa"


@pytest.fixture(scope="module")
def shipped():
    """(workflow trials, workflow effects, workflow pooled) of the shipped data and config."""
    trials, _ = load_shipped_trials()
    effects = compute_effect_sizes(
        trials, measures=CONFIG["measures"], continuity=CONFIG["continuity"]
    )
    pooled, _, _ = engine_tables(trials)
    return trials, effects, pooled


@pytest.fixture(scope="module")
def result():
    return trialmeta.meta_analysis(pd.read_csv(TRIALS_CSV), group_by=GROUP_BY)


@pytest.fixture(scope="module")
def bcg():
    """dat.bcg (13 trials, one analysis): enough studies for every exploration method."""
    trials, _ = load_reference("dat.bcg")
    return trials, trialmeta.meta_analysis(trials, measure="RR")


# ----------------------------------------------------------------------------- README
def _readme_section():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    return code, shown


def test_readme_example_runs_and_prints_what_the_readme_shows():
    code, shown = _readme_section()
    env = dict(os.environ, COLUMNS="200")
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert out[0] == (
        "<MetaAnalysisResult: 16 analyses, measure HR/MD/RR, random effects (REML, hksj), level 0.95>"
    )
    # every non-empty line the README shows appears in the output, in the same order
    pos = 0
    for line in (ln for ln in shown.splitlines() if ln.strip()):
        assert line in out[pos:], f"README line not printed (in order): {line!r}"
        pos = out.index(line, pos) + 1


# ----------------------------------------------------------------------------- same numbers
def _as_workflow(frame, pooled, **select):
    rows = pooled
    for col, value in select.items():
        rows = rows[rows[col] == value]
    rows = rows.merge(frame[["analysis_id", "measure"]], on=["analysis_id", "measure"])
    return rows.sort_values("analysis_id").reset_index(drop=True)


@pytest.mark.parametrize(
    "settings, select",
    [
        ({}, {"model": "random", "tau2_method": "REML", "ci_method": "hksj"}),
        (
            {"measure": "OR", "tau2_method": "DL", "ci_method": "wald"},
            {"model": "random", "tau2_method": "DL", "ci_method": "wald"},
        ),
        (
            {"measure": {"binary": "RD", "continuous": "SMD"}, "tau2_method": "PM"},
            {"model": "random", "tau2_method": "PM", "ci_method": "hksj"},
        ),
        ({"model": "fixed"}, {"model": "fixed"}),
        ({"model": "mh", "measure": "OR"}, {"model": "mh"}),
        ({"model": "peto", "measure": "OR"}, {"model": "peto"}),
    ],
)
def test_numbers_equal_the_workflow_pooled_table(shipped, settings, select):
    _, _, pooled = shipped
    frame = trialmeta.meta_analysis(
        pd.read_csv(TRIALS_CSV), group_by=GROUP_BY, **settings
    ).to_frame()
    frame = frame.sort_values("analysis_id").reset_index(drop=True)
    expected = _as_workflow(frame, pooled, **select)
    assert len(frame) == len(expected) == frame["analysis_id"].nunique()
    # 13 binary analyses: the MS analysis pools hazard ratios (issue 14)
    assert len(frame) == (13 if select["model"] in ("mh", "peto") else 16)
    pd.testing.assert_frame_equal(frame, expected[frame.columns], check_exact=True)


def test_studies_equal_the_workflow_studies_table(result, shipped):
    trials, _, _ = shipped
    _, studies, _ = engine_tables(trials)
    mine = result.studies_frame()
    want = studies.merge(mine[["analysis_id", "study_id", "measure"]])
    assert len(mine) == len(want) == 41
    for col in (
        "yi",
        "vi",
        "ci_low",
        "ci_high",
        "weight_random",
    ):  # random effects: no fixed weights
        np.testing.assert_array_equal(mine[col].to_numpy(float), want[col].to_numpy(float))
    assert result.studies.equals(mine)


def test_one_analysis_without_group_by_equals_the_grouped_row(result, shipped):
    trials, _, _ = shipped
    rows = pd.read_csv(TRIALS_CSV)
    mine = trials.loc[trials["analysis_id"] == TOCILIZUMAB, "source_row"].to_numpy() - 2
    one = trialmeta.meta_analysis(rows.iloc[mine])
    assert len(one) == 1
    grouped = result[TOCILIZUMAB]
    # pooled alone or padded among 16 analyses: the same up to the order of floating-point sums
    for name in ("estimate", "se", "tau2", "I2", "pvalue"):
        assert getattr(one, name) == pytest.approx(getattr(grouped, name), rel=1e-12, abs=1e-15)
    assert isinstance(one.estimate, float)
    assert one.to_frame()["k"].iloc[0] == 4


# ----------------------------------------------------------------------------- the result object
def test_to_frame_columns(result):
    frame = result.to_frame()
    assert list(frame.columns[: len(GROUP_BY)]) == GROUP_BY
    for col in (
        "analysis_id",
        "measure",
        "scale",
        "model",
        "k",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "pi_low",
        "pi_high",
        "tau2",
        "tau2_ci_low",
        "tau2_ci_high",
        "tau",
        "I2",
        "H2",
        "Q",
        "Q_df",
        "Q_pval",
        "status",
        "estimate_exp",
        "ci_low_exp",
        "ci_high_exp",
        "pi_low_exp",
        "pi_high_exp",
    ):
        assert col in frame, col
    assert "primary" not in frame
    assert len(frame) == len(result) == 16 and frame["analysis_id"].is_unique
    log = frame["scale"] == "log"
    assert set(frame.loc[log, "measure"]) == {"RR", "HR"}  # HR: the MS analysis (issue 14)
    assert set(frame.loc[~log, "measure"]) == {"MD"}
    np.testing.assert_allclose(frame.loc[log, "estimate_exp"], np.exp(frame.loc[log, "estimate"]))
    assert frame.loc[~log, "estimate_exp"].isna().all()
    frame.loc[:, "estimate"] = 0.0  # a copy: the result is not changed
    assert result.to_frame()["estimate"].ne(0).all()


def test_summary_contents(result):
    text = result[TOCILIZUMAB].summary()
    for piece in (
        "Random-effects model (k = 4; tau^2 estimator: REML; CI: Hartung-Knapp-Sidik-Jonkman)",
        f"Analysis: {TOCILIZUMAB}",
        "therapy_class: IL-6 receptor inhibitor",
        "Measure: RR (log scale)",
        "tau^2 (between-study variance): 0.0800 (95% CI [0.0060, 2.1860], Q-profile)",
        "tau (square root of tau^2):     0.2829",
        "I^2 (total heterogeneity",
        "H^2 (total variability",
        "Q(df = 3) = 11.0165, p-val = 0.0116",
        "estimate      se    tval  df    pval   ci.lb   ci.ub    pi.lb   pi.ub",
        "Back-transformed (RR): 2.5762, 95% CI [1.4649, 4.5304], 95% PI [0.8903, 7.4546]",
        "Status: ok",
    ):
        assert piece in text, piece
    everything = result.summary()
    assert everything.count("Random-effects model (k = ") == 16
    md = result.to_frame().query("measure == 'MD'")["analysis_id"].iloc[0]
    assert "Back-transformed" not in result[md].summary()  # raw scale: nothing to exponentiate
    fixed = trialmeta.meta_analysis(pd.read_csv(TRIALS_CSV), group_by=GROUP_BY, model="fixed")
    text = fixed[TOCILIZUMAB].summary()
    assert text.startswith("Fixed-effect (inverse-variance) model (k = 4)") and "zval" in text
    assert "tau^2" not in text and "Q(df = 3) = 11.0165" in text


def test_repr(result):
    assert repr(result) == (
        "<MetaAnalysisResult: 16 analyses, measure HR/MD/RR, random effects (REML, hksj), level 0.95>"
    )
    one = repr(result[TOCILIZUMAB])
    assert one.startswith(f"<MetaAnalysisResult: {TOCILIZUMAB}, k = 4, RR = 2.576 [1.465, 4.53]")
    assert result[0].analysis_ids == [result.analysis_ids[0]]
    assert [r.analysis_ids[0] for r in result] == result.analysis_ids
    with pytest.raises(KeyError):
        result["no-such-analysis"]


def test_conf_int_at_another_level_equals_a_direct_computation(result, shipped):
    _, effects, _ = shipped
    ci = result.conf_int(0.90)
    effects = effects[effects["primary_measure"]]
    direct, _ = pool_analyses(
        effects, GROUP_BY, tau2_methods=["REML"], ci_methods=["hksj"], level=0.90, models=["random"]
    )
    direct = direct.set_index("analysis_id").loc[ci.index]
    np.testing.assert_array_equal(ci["ci_low"], direct["ci_low"])
    np.testing.assert_array_equal(ci["ci_high"], direct["ci_high"])
    # the t-based CI of the stats layer, for one analysis by hand
    row = result[TOCILIZUMAB].to_frame().iloc[0]
    from scipy import stats

    half = stats.t.ppf(0.95, row["k"] - 1) * row["se"]
    assert ci.loc[TOCILIZUMAB, "ci_low"] == pytest.approx(row["estimate"] - half, rel=1e-12)
    assert ci.loc[TOCILIZUMAB, "ci_high_exp"] == pytest.approx(
        np.exp(row["estimate"] + half), rel=1e-12
    )
    assert (
        ci["ci_high"] - ci["ci_low"] < result.conf_int()["ci_high"] - result.conf_int()["ci_low"]
    ).all()
    pd.testing.assert_frame_equal(result.conf_int(), result.conf_int(0.95))
    assert list(result.conf_int().columns) == ["ci_low", "ci_high", "ci_low_exp", "ci_high_exp"]


# ----------------------------------------------------------------------------- exploration
def _workflow_rows(table, measures):
    return table[table["measure"].isin(measures)].reset_index(drop=True)


def test_exploration_equals_the_workflow_tables(result, shipped):
    trials, effects, _ = shipped
    measures = {"RR", "MD", "HR"}  # HR: the MS analysis (issue 14)
    expected = {
        # the result's CI method (hksj), as the workflow's default sensitivity_ci_method: primary
        "leave_one_out": ex.leave_one_out_table(effects, ci_method="hksj"),
        "influence": ex.influence_table(effects),
        "cumulative": ex.cumulative_table(effects, trials, ci_method="hksj"),
        "subgroups": ex.subgroups_table(effects, trials, ["biomarker_selected"], ci_method="hksj"),
        "metaregression": ex.metaregression_table(effects, trials, ["year", "timepoint_weeks"]),
        "small_study": ex.small_study_table(effects, min_k=2),
    }
    got = {
        "leave_one_out": result.leave_one_out(),
        "influence": result.influence(),
        "cumulative": result.cumulative(),
        "subgroups": result.subgroups("biomarker_selected"),
        "metaregression": result.metaregression(["year", "timepoint_weeks"]),
        "small_study": result.small_study(min_k=2),
    }
    for name, res in got.items():
        assert isinstance(res, ExplorationResult) and res.name == name
        frame = res.to_frame()
        assert len(frame) > 0 and len(res) == len(frame), name
        pd.testing.assert_frame_equal(
            frame, _workflow_rows(expected[name], measures), check_exact=True
        )
        assert repr(res).startswith(f"<ExplorationResult {name}: {len(frame)} rows")


def test_exploration_on_thirteen_trials(bcg):
    trials, res = bcg
    assert len(res) == 1 and res.to_frame()["k"].iloc[0] == 13
    small = res.small_study().to_frame()  # k = 13 >= 10: every test runs
    assert list(small.columns) == ex.SMALL_STUDY_COLUMNS
    assert np.isfinite(
        small[["egger_rma_z", "egger_lm_pval", "begg_tau", "trimfill_estimate"]].to_numpy(float)
    ).all()
    loo = res.leave_one_out().to_frame()
    assert list(loo.columns) == ex.LOO_COLUMNS and len(loo) == 13
    infl = res.influence().to_frame()
    assert list(infl.columns) == ex.INFLUENCE_COLUMNS and infl["weight"].sum() == pytest.approx(100)
    cum = res.cumulative().to_frame()
    assert list(cum["year"]) == sorted(trials["year"]) and cum["step"].tolist() == list(
        range(1, 14)
    )
    by_lat = res.cumulative(order_by="ablat").to_frame()
    assert "ablat" in by_lat and list(by_lat["ablat"]) == sorted(trials["ablat"])
    in_order = res.cumulative(order_by=None).to_frame()
    assert list(in_order["added_study_id"]) == list(trials["study_id"])
    sub = res.subgroups("alloc").to_frame()
    assert list(sub.columns) == ex.SUBGROUP_COLUMNS and set(sub["level"]) == set(trials["alloc"])
    reg = res.metaregression("ablat").to_frame()
    assert list(reg["term"]) == ["intrcpt", "ablat"] and (reg["status"] == "ok").all()
    knha = res.metaregression(["ablat"], test="knha").to_frame()
    assert (knha["test"] == "knha").all() and not np.allclose(knha["pval"], reg["pval"])


def test_stats_results_share_the_to_frame_protocol(bcg):
    from trialmeta.stats.batch import StudyBatch
    from trialmeta.stats.metaregression import meta_regression
    from trialmeta.stats.sensitivity import influence, leave_one_out
    from trialmeta.stats.small_study import egger_test, rank_test, trim_and_fill
    from trialmeta.stats.subgroups import subgroup_analysis

    _, res = bcg
    eff = res.effects
    batch = StudyBatch.from_arrays(eff["yi"].to_numpy(float), eff["vi"].to_numpy(float))
    loo = leave_one_out(batch).to_frame()
    assert list(loo.columns[:6]) == [
        "analysis",
        "study",
        "step",
        "model",
        "tau2_method",
        "ci_method",
    ]
    assert len(loo) == 13
    assert len(influence(batch).to_frame()) == 13
    for test in (egger_test(batch), rank_test(batch), trim_and_fill(batch)):
        frame = test.to_frame()
        assert len(frame) == 1 and {"pval", "status"} <= set(frame.columns)
    codes = (eff["study_id"].str.len().to_numpy() % 2)[None, :]
    assert set(subgroup_analysis(batch, codes).to_frame()["level"]) == {0, 1}
    X = np.stack([np.ones(13), np.arange(13.0)], axis=1)[None]
    reg = meta_regression(batch.yi, batch.vi, batch.mask, X, term_names=["intrcpt", "x"]).to_frame()
    assert list(reg["term"]) == ["intrcpt", "x"] and list(reg.columns[:3]) == [
        "analysis",
        "term",
        "coef",
    ]
    pooled = trialmeta.random_effects(batch).to_frame()
    assert pooled["estimate"].iloc[0] == pytest.approx(res.estimate, rel=1e-12)
    assert {"k", "estimate", "tau2", "status"} <= set(pooled.columns)


# ----------------------------------------------------------------------------- errors
def test_bad_input_raises_input_error_naming_row_and_column():
    trials = pd.read_csv(TRIALS_CSV)
    trials.loc[3, "events_treat"] = trials.loc[3, "n_treat"] + 5
    trials["n_ctrl"] = trials["n_ctrl"].astype(object)
    trials.loc[5, "n_ctrl"] = "many"
    with pytest.raises(InputError) as err:
        trialmeta.meta_analysis(trials, group_by=GROUP_BY)
    text = str(err.value)
    assert "<table>:5: events_treat=" in text and "<table>:7: n_ctrl='many'" in text
    with pytest.raises(InputError, match="study_id"):
        trialmeta.meta_analysis(trials.drop(columns="study_id"), group_by=GROUP_BY)
    with pytest.raises(InputError):  # no group_by: binary and continuous rows in one analysis
        trialmeta.meta_analysis(pd.read_csv(TRIALS_CSV))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"measure": "HR"}, "unknown measure"),
        ({"measure": {"binary": "MD"}}, "binary measure must be one of"),
        ({"measure": {"survival": "HR"}}, "measure keys"),
        ({"tau2_method": "XYZ"}, "unknown tau2_method"),
        ({"ci_method": "profile"}, "unknown ci_method"),
        ({"model": "bayes"}, "unknown model"),
        ({"level": 95}, "level must be"),
        ({"prediction_interval": "wide"}, "prediction_interval"),
    ],
)
def test_bad_settings_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        trialmeta.meta_analysis(pd.read_csv(TRIALS_CSV), group_by=GROUP_BY, **kwargs)


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="DataFrame"):
        trialmeta.meta_analysis(str(TRIALS_CSV))


# ----------------------------------------------------------------------------- the package
def test_import_trialmeta_does_not_import_pandas_or_scipy():
    code = (
        "import sys, trialmeta; "
        "assert 'pandas' not in sys.modules and 'scipy' not in sys.modules, 'heavy import'; "
        "import trialmeta.pipeline.plan; assert 'pandas' not in sys.modules"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


def test_public_names_and_help():
    assert trialmeta.meta_analysis.__module__ == "trialmeta.api"
    for name in (
        "meta_analysis",
        "MetaAnalysisResult",
        "StudyBatch",
        "PooledResult",
        "binary_effects",
        "continuous_effects",
        "generic_effects",
        "compute_effect_sizes",
        "leave_one_out",
        "influence",
        "cumulative",
        "subgroup_analysis",
        "meta_regression",
        "egger_test",
        "rank_test",
        "trim_and_fill",
    ):
        assert name in trialmeta.__all__ and name in dir(trialmeta)
        assert getattr(trialmeta, name) is not None
        assert name in trialmeta.__doc__, f"{name} not described in the package docstring"
    assert trialmeta.MetaAnalysisResult is MetaAnalysisResult
    with pytest.raises(AttributeError):
        _ = trialmeta.no_such_name
    run = subprocess.run(
        [sys.executable, "-c", "import trialmeta; help(trialmeta)"],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, PAGER="cat"),
    )
    assert run.returncode == 0, run.stderr
    assert "meta_analysis         validate, compute effect sizes and pool" in run.stdout
    assert "class MetaAnalysisResult" in run.stdout

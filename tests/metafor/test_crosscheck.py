"""Double programming: trialmeta's primary random-effects results
recomputed by PyMARE and statsmodels (trialmeta.tables.crosscheck), on every dataset of
tests/reference, and a deliberately corrupted trialmeta result is caught.

The analyses: every reference analysis x measure, pooled by trialmeta from metafor's escalc yi/vi
(the numbers the reference tests check against metafor), one analysis per case.
"""

import numpy as np
import pandas as pd
import pytest

from helpers.reference_data import as_float, case, reference_cases, reference_datasets
from trialmeta.pipeline.console import crosscheck_lines
from trialmeta.pipeline.jobs import write_json
from trialmeta.tables import crosscheck as cc
from trialmeta.tables import pooled as pooled_module
from trialmeta.tables.pooled import pool_analyses

pytest.importorskip("pymare.estimators")
pytest.importorskip("statsmodels.stats.meta_analysis")

METHODS = ["REML", "DL", "PM", "ML", "EB"]  # EB: no engine implements it, so it is not checked


def _effects(datasets=None) -> pd.DataFrame:
    rows = []
    for ds, aid, measure in reference_cases():
        if datasets is not None and ds not in datasets:
            continue
        res = case(ds, aid, measure)[2]
        yi, vi = as_float(res["escalc"]["yi"]), as_float(res["escalc"]["vi"])
        for j, (y, v) in enumerate(zip(yi, vi)):
            rows.append(
                {
                    "analysis_id": f"{ds}.{aid}.{measure}",
                    "study_id": f"s{j}",
                    "measure": measure,
                    "yi": y,
                    "vi": v,
                }
            )
    return pd.DataFrame(rows)


def _pool(effects, ci_methods=("hksj", "wald")):
    return pool_analyses(
        effects, [], tau2_methods=METHODS, ci_methods=list(ci_methods), models=["random"]
    )


@pytest.fixture(scope="module")
def reference_check():
    effects = _effects()
    pooled, studies = _pool(effects)
    table, info = cc.crosscheck_table(pooled, studies, METHODS)
    return effects, pooled, table, info


def test_columns_are_the_contract(reference_check):
    _, _, table, _ = reference_check
    assert tuple(table.columns) == cc.COLUMNS
    assert table["agree"].dtype == bool


def test_every_reference_dataset_is_reproduced_by_both_engines(reference_check):
    effects, pooled, table, info = reference_check
    pooled_ids = set(pooled.loc[pooled["primary"] & (pooled["k"] >= 2), "analysis_id"])
    assert set(table["analysis_id"]) == pooled_ids
    assert {a.split(".")[0] + "." + a.split(".")[1] for a in pooled_ids} == set(
        reference_datasets()
    )
    # every checked method x engine, once per analysis; EB is not checked (no engine has it)
    pairs = set(zip(table["tau2_method"], table["engine"]))
    assert pairs == {
        ("REML", "pymare"),
        ("ML", "pymare"),
        ("DL", "pymare"),
        ("DL", "statsmodels"),
        ("PM", "statsmodels"),
    }
    assert (table.groupby("analysis_id").size() == len(pairs)).all()
    bad = table[~table["agree"]]
    assert bad.empty, bad.to_string()
    assert (table["max_rel_diff"] <= cc.RTOL).all()
    summary = cc.crosscheck_summary(table, info["explanations"])
    assert summary["n_reproduced"] == summary["n_analyses"] == len(pooled_ids)
    assert summary["flags"] == {}
    # statsmodels' untruncated DL occurs in the reference set and is compared at tau2 = 0
    assert info["statsmodels_dl_truncated"] > 0
    sm_dl = table[(table["engine"] == "statsmodels") & (table["tau2_method"] == "DL")]
    assert ((sm_dl["tau2"] == 0) == (sm_dl["trialmeta_tau2"] == 0)).all()


def test_trialmeta_numbers_are_its_wald_rows(reference_check):
    _, pooled, table, _ = reference_check
    wald = pooled[(pooled["ci_method"] == "wald") & (pooled["model"] == "random")]
    merged = table.merge(wald, on=["analysis_id", "measure", "tau2_method"], suffixes=("", "_p"))
    assert len(merged) == len(table)
    np.testing.assert_array_equal(merged["trialmeta_se"], merged["se_p"])
    np.testing.assert_array_equal(merged["trialmeta_tau2"], merged["tau2_p"])


def test_without_wald_rows_trialmeta_wald_se_is_recomputed(reference_check):
    effects, _, table, _ = reference_check
    pooled, studies = _pool(effects, ci_methods=("hksj",))
    hksj_only, _ = cc.crosscheck_table(pooled, studies, METHODS)
    assert hksj_only["agree"].all()
    cols = ["trialmeta_estimate", "trialmeta_se", "trialmeta_tau2"]
    np.testing.assert_allclose(hksj_only[cols], table[cols], rtol=1e-12)


def _corrupt(monkeypatch, target, column="estimate", by=1e-4):
    """trialmeta's pooling returns a wrong ``column`` for analysis ``target`` (all tau2/CI rows)."""
    real = pooled_module.random_effects_given_tau2

    def corrupted(batch, tau2, *args, **kwargs):
        res = real(batch, tau2, *args, **kwargs)
        value = np.asarray(getattr(res, column), float).copy()
        value[target] += by
        setattr(res, column, value)
        return res

    monkeypatch.setattr(pooled_module, "random_effects_given_tau2", corrupted)


@pytest.mark.parametrize("column", ["estimate", "se", "tau2"])
def test_a_corrupted_trialmeta_result_is_caught(monkeypatch, tmp_path, column):
    effects = _effects(["dat.bcg", "dat.li2007", "dat.yusuf1985"])
    effects = effects[effects["measure"] == "RR"]  # one batch: analysis 0 is the first id
    _corrupt(monkeypatch, 0, column=column, by=1e-3)
    pooled, studies = _pool(effects)
    table, info = cc.crosscheck_table(pooled, studies, METHODS)
    first = sorted(table["analysis_id"].unique())[0]
    bad = table[~table["agree"]]
    assert set(bad["analysis_id"]) == {first}, bad.to_string()
    assert len(bad) == 5  # every engine and tau2 method sees it
    summary = cc.crosscheck_summary(table, info["explanations"])
    assert summary["n_reproduced"] == summary["n_analyses"] - 1
    assert summary["n_unexplained"] == 5
    assert all("not explained" in t for t in summary["flags"][first])
    summary["notes"] = cc.crosscheck_notes(summary, info, cc.engine_versions(), METHODS)
    write_json(summary, tmp_path / "crosscheck.json")
    text = crosscheck_lines(tmp_path / "crosscheck.json")
    n = summary["n_analyses"]
    assert f"independently reproduced (PyMARE, statsmodels): {n - 1} of {n} analyses" in text
    assert "WARNING: 5 cross-check disagreement(s) without a known cause" in text
    assert first in text


def test_all_reproduced_console_line(reference_check, tmp_path):
    _, _, table, info = reference_check
    summary = cc.crosscheck_summary(table, info["explanations"])
    summary["notes"] = cc.crosscheck_notes(summary, info, cc.engine_versions(), METHODS)
    write_json(summary, tmp_path / "crosscheck.json")
    text = crosscheck_lines(tmp_path / "crosscheck.json")
    n = summary["n_analyses"]
    assert text.splitlines()[0] == (
        f"trialmeta: independently reproduced (PyMARE, statsmodels): {n} of {n} analyses"
    )
    assert "WARNING" not in text
    assert "statsmodels' DL tau2 is not truncated at 0" in text  # the expected difference, once
    assert text.count("not truncated") == 1


def test_pymare_local_maximum_is_explained_not_a_wolf_cry():
    """A two-peak REML likelihood where PyMARE's point is the lower peak: explained (verified by
    the likelihoods), still not counted as agreement."""
    y, v = np.array([-1.2, 0.0, 1.2, 0.05]), np.array([0.01, 0.5, 0.01, 0.5])
    data = {"a": ("MD", y, v)}
    ours = 0.95
    ll = [cc.log_likelihood(y, v, t, True) for t in (ours, 0.0)]
    assert ll[0] > ll[1]
    row = pd.Series(
        {
            "analysis_id": "a",
            "engine": "pymare",
            "tau2_method": "REML",
            "tau2": 0.0,
            "trialmeta_tau2": ours,
            "max_rel_diff": 1.0,
        }
    )
    assert cc.explain(row, data) == "pymare_local_max"
    table = pd.DataFrame([{**row.to_dict(), "agree": False}])
    summary = cc.crosscheck_summary(table, {0: "pymare_local_max"})
    assert summary["n_reproduced"] == 0 and summary["n_explained"] == 1
    assert summary["n_unexplained"] == 0 and summary["causes"] == ["pymare_local_max"]
    assert "expected (PyMARE stopped at a lower local maximum" in summary["flags"]["a"][0]
    notes = cc.crosscheck_notes(summary, {}, cc.engine_versions(), ["REML"])
    assert "1 more differ only for a known reason" in notes[0]
    assert notes[1:] == [cc.EXPLANATIONS["pymare_local_max"]]
    row = row.copy()
    row["engine"] = "statsmodels"
    assert cc.explain(row, data) == ""


def test_nothing_to_check(tmp_path):
    """No random-effects rows (models: fixed only) or no engine for the tau2 methods: an empty
    table with the contract's columns, and the console says there was nothing to check."""
    effects = _effects(["dat.bcg"])
    pooled, studies = pool_analyses(effects, [], tau2_methods=["SJ"], models=["random", "fixed"])
    for methods in (["SJ"], []):
        table, info = cc.crosscheck_table(pooled, studies, methods)
        assert tuple(table.columns) == cc.COLUMNS and table.empty
    summary = cc.crosscheck_summary(table, info["explanations"])
    assert summary["n_analyses"] == 0
    summary["notes"] = cc.crosscheck_notes(summary, info, cc.engine_versions(), ["SJ"])
    write_json(summary, tmp_path / "crosscheck.json")
    assert "nothing to check" in crosscheck_lines(tmp_path / "crosscheck.json")


def test_pymare_precision_is_explained_only_where_trialmeta_is_not_worse():
    """A tau2 a few 1e-6 away from trialmeta's REML optimum (PyMARE's precision on flat
    likelihoods, seen on 5 of 1,000 synthetic analyses): explained; the same distance where
    trialmeta's point were the worse one: not explained."""
    effects = _effects(["dat.bcg"])
    effects = effects[effects["measure"] == "RR"]
    pooled, studies = _pool(effects)
    data = cc.analysis_data(pooled, studies)
    (aid,) = data
    wald_reml = (pooled["tau2_method"] == "REML") & (pooled["ci_method"] == "wald")
    (ours,) = pooled.loc[wald_reml, "tau2"].astype(float).tolist()
    row = pd.Series(
        {
            "analysis_id": aid,
            "engine": "pymare",
            "tau2_method": "REML",
            "tau2": ours * (1 + 3e-6),
            "trialmeta_tau2": ours,
            "max_rel_diff": 3e-6,
        }
    )
    assert cc.explain(row, data) == "pymare_precision"
    row["trialmeta_tau2"], row["tau2"] = ours * 1.5, ours  # trialmeta's point clearly worse
    row["max_rel_diff"] = 3e-6
    assert cc.explain(row, data) == ""

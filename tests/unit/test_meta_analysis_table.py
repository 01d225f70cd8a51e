"""The pooled.csv / studies.csv contract of :func:`trialmeta.tables.pooled.pool_analyses`.

The effects table is built from the reference ``escalc`` yi/vi and the trials' arm counts (so
this does not depend on trialmeta's effect sizes); it holds every reference analysis x measure.
"""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from helpers.reference_data import (
    CLOSED_FORM_RTOL,
    analysis_rows,
    as_float,
    assert_rel,
    load_reference,
    reference_cases,
)
from trialmeta.inputs.errors import InputError
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.pooling import fixed_effect
from trialmeta.stats.result import POOLED_FIELDS
from trialmeta.tables.pooled import EXP_COLUMNS, EXTRA_COLUMNS, STUDY_COLUMNS, pool_analyses

pytest.importorskip("trialmeta.stats.tau2")
from trialmeta.stats.pooling import random_effects  # noqa: E402

HAVE_MH = (
    importlib.util.find_spec("trialmeta.stats.mantel_haenszel") is not None
    and importlib.util.find_spec("trialmeta.stats.peto") is not None
)
KEYS = ["therapy", "comparator", "condition", "outcome", "outcome_type"]
TAU2 = ("REML", "DL")
CI = ("hksj", "wald")


def _effects():
    parts = []
    for ds, aid, m in reference_cases():
        trials, ref = load_reference(ds)
        a = ref["analyses"][aid]
        t = analysis_rows(trials, a)
        r = a["results"][m]
        d = pd.DataFrame({k: a["filter"][k] for k in KEYS}, index=range(len(t)))
        d["analysis_id"] = f"{ds}.{aid}"
        d["study_id"] = r["escalc"]["study_id"]
        d["measure"] = m
        d["scale"] = r["scale"]
        d["yi"] = as_float(r["escalc"]["yi"])
        d["vi"] = as_float(r["escalc"]["vi"])
        d["sei"] = np.sqrt(d["vi"])
        d["ci_low"] = d["yi"] - 1.959963984540054 * d["sei"]
        d["ci_high"] = d["yi"] + 1.959963984540054 * d["sei"]
        d["continuity_corrected"] = r["escalc"].get("continuity_corrected", [False] * len(t))
        for c in ("events_treat", "n_treat", "events_ctrl", "n_ctrl"):
            d[c] = (
                t[c].to_numpy(float)
                if c in t and a["filter"]["outcome_type"] == "binary"
                else np.nan
            )
        d["primary_measure"] = m == a["measures"][0]
        d["source_file"] = f"tests/reference/{ds}/trials.csv"
        d["source_row"] = np.arange(len(t)) + 2
        parts.append(d)
    return pd.concat(parts, ignore_index=True)


EFFECTS = _effects()
MODELS = ("random", "fixed", "mh", "peto") if HAVE_MH else ("random", "fixed")


@pytest.fixture(scope="module")
def tables():
    return pool_analyses(EFFECTS, KEYS, tau2_methods=TAU2, ci_methods=CI, models=MODELS)


def test_columns_in_contract_order(tables):
    pooled, studies = tables
    expected = KEYS + list(POOLED_FIELDS) + list(EXP_COLUMNS) + list(EXTRA_COLUMNS)
    assert list(pooled.columns[: len(expected)]) == expected
    assert pooled.columns[-1] == "primary"
    assert list(studies.columns[: len(KEYS) + len(STUDY_COLUMNS)]) == KEYS + list(STUDY_COLUMNS)
    assert {"events_treat", "n_treat", "events_ctrl", "n_ctrl"} <= set(studies.columns)


def test_row_counts(tables):
    pooled, studies = tables
    am = EFFECTS[["analysis_id", "measure", "outcome_type"]].drop_duplicates()
    n_random = len(am) * len(TAU2) * len(CI)
    counts = pooled["model"].value_counts()
    assert counts["random"] == n_random
    assert counts["fixed"] == len(am)
    if HAVE_MH:
        binary = am[am["outcome_type"] == "binary"]
        assert counts["mh"] == binary["measure"].isin(["OR", "RR", "RD"]).sum()
        assert counts["peto"] == (binary["measure"] == "OR").sum()
    assert len(pooled) == counts.sum()
    assert not pooled.duplicated(
        ["analysis_id", "measure", "model", "tau2_method", "ci_method"]
    ).any()
    assert len(studies) == len(EFFECTS)


def test_empty_cells_where_not_applicable(tables):
    pooled, _ = tables
    rnd = pooled[pooled["model"] == "random"]
    other = pooled[pooled["model"] != "random"]
    assert (other["tau2_method"] == "").all()
    assert set(rnd["tau2_method"]) == set(TAU2) and set(rnd["ci_method"]) == set(CI)
    assert (pooled.loc[pooled["model"].isin(["mh", "peto"]), "ci_method"] == "").all()
    normal = pooled["ci_method"] != "hksj"
    assert pooled.loc[normal, "df"].isna().all()
    hk = pooled[pooled["ci_method"] == "hksj"]
    assert (hk["df"] == hk["k"] - 1).all()
    fixed = pooled[pooled["model"] == "fixed"]
    assert fixed[["tau2", "tau", "pi_low", "pi_high", "tau2_ci_low"]].isna().all().all()
    assert (
        rnd[["tau2", "tau", "I2", "H2", "Q", "pi_low", "tau2_ci_low", "tau2_ci_high"]]
        .notna()
        .all()
        .all()
    )
    assert rnd["iterations"].notna().all()


def test_primary_flag(tables):
    pooled, _ = tables
    prim = pooled[pooled["primary"]]
    assert prim["analysis_id"].is_unique
    assert set(prim["analysis_id"]) == set(EFFECTS["analysis_id"])
    assert (prim["model"] == "random").all() and (prim["tau2_method"] == TAU2[0]).all()
    assert (prim["ci_method"] == CI[0]).all()
    first = (
        EFFECTS[EFFECTS["primary_measure"]]
        .drop_duplicates("analysis_id")
        .set_index("analysis_id")["measure"]
    )
    assert (prim.set_index("analysis_id")["measure"] == first.reindex(prim["analysis_id"])).all()


def test_back_transformed_columns(tables):
    pooled, _ = tables
    log = pooled["scale"] == "log"
    assert log.any() and (~log).any()
    for src, dst in zip(("estimate", "ci_low", "ci_high", "pi_low", "pi_high"), EXP_COLUMNS):
        np.testing.assert_array_equal(pooled.loc[log, dst], np.exp(pooled.loc[log, src]))
        assert pooled.loc[~log, dst].isna().all()


def test_deterministic_sorted_order(tables):
    pooled, studies = tables
    assert pooled["analysis_id"].is_monotonic_increasing
    for (aid,), g in pooled.groupby(["analysis_id"], sort=False):
        measures = list(dict.fromkeys(g["measure"]))
        assert (
            measures[0]
            == EFFECTS.loc[(EFFECTS.analysis_id == aid) & EFFECTS.primary_measure, "measure"].iloc[
                0
            ]
        )
        for m in measures:
            gm = g[g["measure"] == m]
            order = [
                (
                    list(MODELS).index(r.model),
                    TAU2.index(r.tau2_method) if r.tau2_method else -1,
                    CI.index(r.ci_method) if r.ci_method else -1,
                )
                for r in gm.itertuples()
            ]
            assert order == sorted(order)
    assert studies["analysis_id"].is_monotonic_increasing
    # shuffling the analyses in the input does not change the output
    blocks = [g for _, g in EFFECTS.groupby(["analysis_id", "measure"], sort=False)]
    rng = np.random.default_rng(3)
    shuffled = pd.concat([blocks[i] for i in rng.permutation(len(blocks))], ignore_index=True)
    p2, s2 = pool_analyses(shuffled, KEYS, tau2_methods=TAU2, ci_methods=CI, models=MODELS)
    pd.testing.assert_frame_equal(p2, pooled)
    pd.testing.assert_frame_equal(s2, studies)


def test_cross_check_with_direct_functions(tables):
    """pooled.csv numbers for every reference analysis equal the batched function results.

    pool_analyses pools one batch per measure, the direct call one batch of all cases; iterative
    tau2 (REML) therefore agrees to the solver's tolerance, not bit for bit.
    """
    pooled, studies = tables
    cases = reference_cases()
    batch = StudyBatch.from_list(
        [
            (
                as_float(load_reference(d)[1]["analyses"][a]["results"][m]["escalc"]["yi"]),
                as_float(load_reference(d)[1]["analyses"][a]["results"][m]["escalc"]["vi"]),
            )
            for d, a, m in cases
        ]
    )
    aids = [f"{d}.{a}" for d, a, _ in cases]
    ms = [m for _, _, m in cases]
    cols = [
        "estimate",
        "se",
        "stat",
        "df",
        "pval",
        "ci_low",
        "ci_high",
        "pi_low",
        "pi_high",
        "tau2",
        "tau2_ci_low",
        "tau2_ci_high",
        "tau",
        "I2",
        "I2_ci_low",
        "I2_ci_high",
        "H2",
        "Q",
        "Q_df",
        "Q_pval",
    ]
    idx = pooled.set_index(["analysis_id", "measure", "model", "tau2_method", "ci_method"])
    direct = {("fixed", "", "wald"): fixed_effect(batch)}
    for t in TAU2:
        for c in CI:
            direct[("random", t, c)] = random_effects(batch, t, c, "metafor")
    for (model, t, c), res in direct.items():
        for i, (aid, m) in enumerate(zip(aids, ms)):
            row = idx.loc[(aid, m, model, t, c)]
            for col in cols:
                got = float(row[col]) if pd.notna(row[col]) else np.nan
                # the Q-profile CI is computed once per measure, with the search interval of the
                # first tau2 method's fit (metafor's confint of that fit), and shared by all rows
                src = (
                    direct[("random", TAU2[0], c)]
                    if model == "random" and col.endswith(("_ci_low", "_ci_high"))
                    else res
                )
                # the same REML solver on a differently padded batch: agreement to its tolerance
                assert_rel(
                    got,
                    np.array([src.column(col)[i]]),
                    1e-9,
                    f"{aid} {m} {model} {t} {c} {col}",
                    atol=1e-15,
                )
            if t in ("", TAU2[0]):
                assert row["status"] == res.status[i]
            w = studies[(studies.analysis_id == aid) & (studies.measure == m)]
            if model == "fixed":
                assert_rel(
                    w["weight_fixed"].to_numpy(),
                    res.weights[i][batch.mask[i]],
                    1e-12,
                    "weight_fixed",
                )
            elif t == TAU2[0] and c == CI[0]:
                assert_rel(
                    w["weight_random"].to_numpy(),
                    res.weights[i][batch.mask[i]],
                    1e-12,
                    "weight_random",
                )


def test_reference_values_in_table(tables):
    """Spot the metafor numbers themselves in the table (DL: closed form, fixed, MH/Peto)."""
    pooled, _ = tables
    idx = pooled.set_index(["analysis_id", "measure", "model", "tau2_method", "ci_method"])
    for ds, aid, m in reference_cases():
        r = load_reference(ds)[1]["analyses"][aid]["results"][m]
        row = idx.loc[(f"{ds}.{aid}", m, "random", "DL", "wald")]
        for f, col in (
            ("estimate", "estimate"),
            ("ci.lb", "ci_low"),
            ("pi.ub", "pi_high"),
            ("I2", "I2"),
        ):
            assert_rel(row[col], r["DL"][f], CLOSED_FORM_RTOL, f"{ds} {aid} {m} DL {f}")
        row = idx.loc[(f"{ds}.{aid}", m, "fixed", "", "wald")]
        assert_rel(row["estimate"], r["FE"]["estimate"], CLOSED_FORM_RTOL, "FE")
        if HAVE_MH and "MH" in r and "error" not in r["MH"]:
            row = idx.loc[(f"{ds}.{aid}", m, "mh", "", "")]
            assert_rel(row["estimate"], r["MH"]["estimate"], CLOSED_FORM_RTOL, f"{ds} {aid} {m} MH")
        if HAVE_MH and "PETO" in r and "error" not in r["PETO"]:
            row = idx.loc[(f"{ds}.{aid}", m, "peto", "", "")]
            assert_rel(
                row["estimate"], r["PETO"]["estimate"], CLOSED_FORM_RTOL, f"{ds} {aid} {m} PETO"
            )


def test_studies_table_weights(tables):
    _, studies = tables
    g = studies.groupby(["analysis_id", "measure"])
    np.testing.assert_allclose(g["weight_fixed"].sum(), 100.0, rtol=1e-12)
    np.testing.assert_allclose(g["weight_random"].sum(), 100.0, rtol=1e-12)
    assert (studies["weight_fixed"] > 0).all()


def _single_study_effects():
    d = EFFECTS[EFFECTS.analysis_id == EFFECTS.analysis_id.iloc[0]].copy()
    d = d[d.measure == d.measure.iloc[0]].iloc[:1].copy()
    d["analysis_id"] = "zz_single"
    return d, pd.concat([EFFECTS, d], ignore_index=True)


def test_single_study_row():
    one, eff = _single_study_effects()
    pooled, studies = pool_analyses(eff, KEYS, tau2_methods=TAU2, ci_methods=CI, models=MODELS)
    rows = pooled[pooled.analysis_id == "zz_single"]
    assert len(rows) == len(TAU2) * len(CI) + 1 + (
        2 if HAVE_MH and one.measure.iloc[0] == "OR" else 0
    )
    core = rows[rows.model.isin(["random", "fixed"])]
    assert (core["status"] == "single_study").all()
    assert (core["k"] == 1).all()
    np.testing.assert_array_equal(core["estimate"], one["yi"].iloc[0])
    np.testing.assert_allclose(core["se"], np.sqrt(one["vi"].iloc[0]), rtol=1e-15)
    np.testing.assert_allclose(
        core["ci_low"], one["yi"].iloc[0] - 1.959963984540054 * np.sqrt(one["vi"].iloc[0])
    )
    assert core[["Q", "tau2", "pi_low", "pi_high", "I2", "tau2_ci_low", "df"]].isna().all().all()
    assert rows["primary"].sum() == 1
    s = studies[studies.analysis_id == "zz_single"]
    assert (s["weight_fixed"] == 100).all() and (s["weight_random"] == 100).all()
    # the other analyses are unaffected by the extra one
    rest = pooled[pooled.analysis_id != "zz_single"].reset_index(drop=True)
    base, _ = pool_analyses(EFFECTS, KEYS, tau2_methods=TAU2, ci_methods=CI, models=MODELS)
    pd.testing.assert_frame_equal(rest, base)


def test_non_positive_variance_is_input_error():
    eff = EFFECTS.copy()
    eff.loc[3, "vi"] = 0.0
    eff.loc[10, "vi"] = -1.0
    with pytest.raises(InputError) as exc:
        pool_analyses(eff, KEYS, models=("fixed",))
    msg = str(exc.value)
    assert len(exc.value.problems) == 2
    assert f"{eff.loc[3, 'source_file']}:{eff.loc[3, 'source_row']}: vi=0.0" in msg
    assert "must be > 0" in msg


def test_missing_effect_is_reported_not_pooled():
    eff = EFFECTS.copy()
    aid, m = eff.loc[0, "analysis_id"], eff.loc[0, "measure"]
    eff.loc[0, ["yi", "vi"]] = np.nan
    pooled, studies = pool_analyses(
        eff, KEYS, tau2_methods=TAU2, ci_methods=CI, models=("random", "fixed")
    )
    rows = pooled[(pooled.analysis_id == aid) & (pooled.measure == m)]
    k_all = ((EFFECTS.analysis_id == aid) & (EFFECTS.measure == m)).sum()
    assert (rows["k"] == k_all - 1).all()
    assert rows["status"].str.contains("studies_without_effect:1").all()
    assert np.isnan(
        studies.loc[
            (studies.analysis_id == aid)
            & (studies.study_id == eff.loc[0, "study_id"])
            & (studies.measure == m),
            "weight_fixed",
        ]
    ).all()

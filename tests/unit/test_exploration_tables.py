"""Table builders (exploration.py): contract columns, all analyses in one call, and the numbers
equal the metafor reference (tight) when the effects table is built from the reference escalc."""

import numpy as np
import pandas as pd
import pytest

from helpers.bias_reference_helpers import TIGHT, check
from helpers.reference_data import analysis_rows, load_reference, reference_effects
from trialmeta.tables import exploration as ex

DATASETS = [
    ("dat.bcg", "bcg_tb"),
    ("dat.hart1999", "warfarin_stroke"),
    ("dat.collins1985b", "perinatal_death"),
    ("dat.lau1992", "streptokinase_mortality"),
]


@pytest.fixture(scope="module")
def tables():
    effects, trials = [], []
    for ds, aid in DATASETS:
        t, ref = load_reference(ds)
        t = t.assign(source_file=f"{ds}/trials.csv", source_row=np.arange(len(t)) + 2)
        trials.append(t)
        a = ref["analyses"][aid]
        effects.append(reference_effects(a, analysis_rows(t, a), aid))
    effects = pd.concat(effects, ignore_index=True)
    trials = pd.concat(trials, ignore_index=True)
    cfg = {
        "subgroups": ["alloc", "prevtype"],
        "metaregression": ["ablat", "alloc", "year"],
        "tau2_methods": ["REML"],
    }
    built = {
        "subgroups": ex.subgroups_table(effects, trials, cfg["subgroups"]),
        "metaregression": ex.metaregression_table(effects, trials, cfg["metaregression"]),
        "leave_one_out": ex.leave_one_out_table(effects),
        "influence": ex.influence_table(effects),
        "cumulative": ex.cumulative_table(effects, trials),
        "small_study": ex.small_study_table(effects),
    }
    return effects, trials, built


def ref_of(ds, aid, m):
    return load_reference(ds)[1]["analyses"][aid]["results"][m]


def test_columns(tables):
    _, _, t = tables
    assert list(t["subgroups"].columns) == ex.SUBGROUP_COLUMNS
    assert list(t["metaregression"].columns) == ex.METAREG_COLUMNS
    assert list(t["leave_one_out"].columns) == ex.LOO_COLUMNS
    assert list(t["influence"].columns) == ex.INFLUENCE_COLUMNS
    assert list(t["cumulative"].columns) == ex.CUMUL_COLUMNS
    assert list(t["small_study"].columns) == ex.SMALL_STUDY_COLUMNS


def test_metaregression_rows(tables):
    _, _, t = tables
    mr = t["metaregression"]
    r = ref_of("dat.bcg", "bcg_tb", "RR")["tight"]["metareg_REML"]
    for mod, formula in (("ablat", "~ ablat"), ("alloc", "~ factor(alloc)")):
        rows = mr[(mr.analysis_id == "bcg_tb") & (mr.measure == "RR") & (mr.moderator == mod)]
        assert list(rows.term) == list(r[formula]["coefficients"])
        check(
            rows.coef.to_numpy(),
            np.array(list(r[formula]["coefficients"].values())),
            TIGHT,
            0,
            "coef",
        )
        check(rows.tau2.to_numpy()[:1], r[formula]["tau2"], TIGHT, 1e-3, "tau2")
    # lau1992 OR ~ year: metafor default failed; trialmeta converges (tight value)
    rows = mr[
        (mr.analysis_id == "streptokinase_mortality")
        & (mr.measure == "OR")
        & (mr.moderator == "year")
    ]
    check(
        rows.coef.to_numpy(),
        np.array(
            list(
                ref_of("dat.lau1992", "streptokinase_mortality", "OR")["tight"]["metareg_REML"][
                    "~ year"
                ]["coefficients"].values()
            )
        ),
        TIGHT,
        0,
        "lau year",
    )
    # ablat does not exist in other datasets: no rows for them
    assert set(mr[mr.moderator == "ablat"].analysis_id) == {"bcg_tb"}


def test_subgroup_rows(tables):
    _, _, t = tables
    sg = t["subgroups"]
    rows = sg[
        (sg.analysis_id == "warfarin_stroke") & (sg.measure == "OR") & (sg.moderator == "prevtype")
    ]
    ref = ref_of("dat.hart1999", "warfarin_stroke", "OR")["tight"]["subgroups_REML"]["prevtype"]
    assert list(rows.level) == list(ref["levels"])
    check(
        rows.estimate.to_numpy(),
        np.array([ref["levels"][lv]["estimate"] for lv in rows.level]),
        TIGHT,
        0,
        "est",
    )
    check(rows.Q_between.to_numpy()[:1], ref["test_subgroup_differences"]["Q"], TIGHT, 0, "Qb")
    for lv, st in zip(rows.level, rows.status):
        if ref["levels"][lv]["k"] == 1:
            assert st == "single_study"
        else:
            assert st in ("ok", "tau2_boundary", "ok;tau2_boundary"), st


def test_loo_and_cumul_rows(tables):
    _, _, t = tables
    loo = t["leave_one_out"]
    rows = loo[(loo.analysis_id == "bcg_tb") & (loo.measure == "OR")]
    ref = ref_of("dat.bcg", "bcg_tb", "OR")["tight"]["leave1out_REML"]
    assert list(rows.omitted_study_id) == ref["omitted"]
    check(rows.estimate.to_numpy(), np.array(ref["estimate"]), TIGHT, 0, "loo est")
    cu = t["cumulative"]
    rows = cu[(cu.analysis_id == "perinatal_death") & (cu.measure == "RR")]
    ref = ref_of("dat.collins1985b", "perinatal_death", "RR")["tight"]["cumul_REML"]
    assert list(rows.added_study_id) == ref["added"] and list(rows.step) == list(
        range(1, len(ref["added"]) + 1)
    )
    check(rows.tau2.to_numpy(), np.array(ref["tau2"]), TIGHT, 1e-3, "cumul tau2")
    assert "warfarin_stroke" not in set(cu.analysis_id) or cu.year.notna().all()


def test_small_study_rows(tables):
    _, _, t = tables
    ss = t["small_study"].set_index(["analysis_id", "measure"])
    r = ref_of("dat.bcg", "bcg_tb", "OR")
    row = ss.loc[("bcg_tb", "OR")]
    assert row.reason == "" and row.k == 13
    check(row.egger_rma_z, r["tight"]["regtest_REML"]["zval"], TIGHT, 0, "egger z")
    check(row.egger_lm_t, r["regtest_lm"]["tval"], 1e-10, 0, "egger t")
    check(row.begg_pval, r["ranktest"]["pval"], 1e-10, 0, "begg p")
    assert row.trimfill_side == r["tight"]["trimfill_REML"]["side"]
    low = ss.loc[("warfarin_stroke", "OR")]
    assert low.k == 6 and low.reason.startswith("k = 6 < 10") and np.isnan(low.egger_rma_z)


def test_influence_rows(tables):
    _, _, t = tables
    inf = t["influence"]
    rows = inf[(inf.analysis_id == "bcg_tb") & (inf.measure == "OR")]
    assert len(rows) == 13 and abs(rows.hat.sum() - 1) < 1e-12 and rows.influential.dtype == bool


def test_edge_cases_do_not_raise():
    """Empty input, single-study analyses, missing years and moderators, a constant moderator."""
    empty = pd.DataFrame(
        columns=[
            "analysis_id",
            "study_id",
            "measure",
            "scale",
            "yi",
            "vi",
            "source_file",
            "source_row",
        ]
    )
    trials = pd.DataFrame(
        {
            "source_file": ["f"] * 4,
            "source_row": [2, 3, 4, 5],
            "year": [2001, np.nan, 2003, 2004],
            "grp": ["a", "b", None, "a"],
            "dose": [1.0, 1.0, 1.0, 1.0],
        }
    )
    assert ex.leave_one_out_table(empty).empty and ex.small_study_table(empty).empty
    assert list(ex.subgroups_table(empty, trials, ["grp"]).columns) == ex.SUBGROUP_COLUMNS
    eff = pd.DataFrame(
        {
            "analysis_id": ["one", "two", "two", "two"],
            "study_id": ["s1", "s2", "s3", "s4"],
            "measure": "MD",
            "scale": "raw",
            "yi": [0.1, 0.2, 0.5, -0.1],
            "vi": [0.1, 0.05, 0.2, 0.1],
            "source_file": "f",
            "source_row": [2, 3, 4, 5],
        }
    )
    loo = ex.leave_one_out_table(eff)
    assert set(loo.analysis_id) == {"two"} and len(loo) == 3
    cu = ex.cumulative_table(eff, trials)
    assert set(cu.analysis_id) == {"one"}  # "two" has a study without a year
    assert cu.tau2.iloc[0] == 0 and cu.step.tolist() == [1]
    sg = ex.subgroups_table(eff, trials, ["grp"])  # "two": grp b, (missing), a -> 2 levels
    assert sorted(sg.level) == ["a", "b"] and (sg.status == "single_study").all()
    mr = ex.metaregression_table(eff, trials, ["dose"])
    assert (mr.term == "").all()
    assert mr.set_index("analysis_id").status.to_dict() == {
        "one": "failed:k = 1 <= 2 coefficients",
        "two": "failed:moderator constant within the analysis",
    }
    ss = ex.small_study_table(eff)
    assert ss.reason.str.startswith("k = ").all()
    inf = ex.influence_table(eff)
    assert len(inf) == 3


def test_estimator_disagreement_flag():
    pooled = pd.DataFrame(
        {
            "analysis_id": ["a"] * 4 + ["b"] * 2,
            "measure": ["RR"] * 6,
            "model": ["random", "random", "random", "fixed", "random", "random"],
            "tau2_method": ["REML", "REML", "DL", "", "REML", "DL"],
            "ci_method": ["hksj", "wald", "wald", "wald", "hksj", "wald"],
            "ci_low": [-0.5, 0.1, 0.05, 0.2, 0.1, 0.2],
            "ci_high": [0.3, 0.6, 0.7, 0.5, 0.4, 0.5],
        }
    )
    out = ex.estimator_disagreement(pooled).set_index("analysis_id")
    assert out.loc["a", "disagree"] and not out.loc["b", "disagree"]
    assert out.loc["a", "methods_not_significant"] == "REML/hksj"
    assert (
        out.loc["a", "methods_significant"] == "DL/wald;REML/wald"
        and out.loc["a", "n_methods"] == 3
    )


# ---------------------------------------------------------------- scale, *_exp, CI method
def test_scale_and_back_transformed_columns(tables):
    """Every table with estimates: ``scale`` after ``measure`` and ``<col>_exp`` = exp(<col>) on
    log-scale rows (OR, RR here), empty on raw rows (RD), right after the estimate/CI columns."""
    effects, _, t = tables
    scale_of = effects.drop_duplicates("measure").set_index("measure")["scale"]
    sources = {
        "subgroups": ("estimate", "ci_low", "ci_high", "overall_estimate"),
        "metaregression": ("coef", "ci_low", "ci_high"),
        "leave_one_out": ("estimate", "ci_low", "ci_high"),
        "cumulative": ("estimate", "ci_low", "ci_high"),
        "small_study": ("trimfill_estimate", "trimfill_ci_low", "trimfill_ci_high"),
    }
    for name, cols in sources.items():
        df = t[name]
        assert list(df.columns[1:3]) == ["measure", "scale"], name
        assert (df["scale"] == df["measure"].map(scale_of)).all(), name
        log = (df["scale"] == "log").to_numpy()
        assert log.any() and (~log).any(), name
        for c in cols:
            got = df[f"{c}_exp"].to_numpy(float)
            np.testing.assert_allclose(got[log], np.exp(df[c].to_numpy(float)[log]), rtol=1e-15)
            assert np.isnan(got[~log]).all(), (name, c)
    assert "scale" not in t["influence"]  # diagnostics only


def test_sparse_binary_back_transformed():
    from trialmeta.tables.ratio import with_exp

    df = pd.DataFrame(
        {
            "measure": ["OR", "RD"],
            "scale": ["log", "raw"],
            "estimate": [np.log(2.0), 0.1],
            "ci_low": [0.0, -0.1],
            "ci_high": [1.0, 0.3],
        }
    )
    out = with_exp(df, ("estimate", "ci_low", "ci_high"))
    assert list(out.columns[-3:]) == ["estimate_exp", "ci_low_exp", "ci_high_exp"]
    assert out["estimate_exp"].iloc[0] == pytest.approx(2.0) and np.isnan(out["ci_low_exp"].iloc[1])
    assert ex.SPARSE_COLUMNS.index("estimate_exp") == ex.SPARSE_COLUMNS.index("ci_high") + 1


def _hksj_by_hand(y, v, tau2, level=0.95):
    """Random-effects estimate and HKSJ CI given tau2 (Hartung & Knapp 2001), computed here."""
    from scipy import stats

    w = 1 / (v + tau2)
    mu = (w * y).sum() / w.sum()
    se = np.sqrt((w * (y - mu) ** 2).sum() / ((y.size - 1) * w.sum()))
    q = stats.t.ppf(1 - (1 - level) / 2, y.size - 1)
    return mu, mu - q * se, mu + q * se


def test_leave_one_out_and_cumulative_with_hksj(tables):
    """ci_method="hksj": same estimates and tau2 as the Wald rows (metafor's), CIs the HKSJ ones
    computed independently from each sub-analysis' studies."""
    effects, trials, t = tables
    loo = ex.leave_one_out_table(effects, ci_method="hksj")
    wald = t["leave_one_out"]
    assert (loo["ci_method"] == "hksj").all() and (wald["ci_method"] == "wald").all()
    np.testing.assert_allclose(loo["estimate"], wald["estimate"], rtol=1e-12)
    np.testing.assert_allclose(loo["tau2"], wald["tau2"], rtol=1e-12, atol=1e-15)
    sel = effects[(effects.analysis_id == "bcg_tb") & (effects.measure == "RR")]
    rows = loo[(loo.analysis_id == "bcg_tb") & (loo.measure == "RR")]
    for _, r in rows.iterrows():
        keep = sel[sel.study_id != r["omitted_study_id"]]
        mu, lo, hi = _hksj_by_hand(keep.yi.to_numpy(float), keep.vi.to_numpy(float), r["tau2"])
        np.testing.assert_allclose([r.estimate, r.ci_low, r.ci_high], [mu, lo, hi], rtol=1e-10)
        assert r.ci_high_exp == pytest.approx(np.exp(hi), rel=1e-12)
    cu = ex.cumulative_table(effects, trials, ci_method="hksj")
    assert (cu["ci_method"] == "hksj").all()
    one = cu[cu.step == 1]  # one study: its own Wald CI, as pooled.csv's k = 1 rows
    wald_cu = t["cumulative"][t["cumulative"].step == 1]
    np.testing.assert_allclose(one["ci_low"], wald_cu["ci_low"], rtol=1e-12)


def test_subgroups_with_the_primary_ci_method(tables):
    """ci_method="hksj": level CIs are HKSJ (single-trial levels keep Wald and say so), the test
    for subgroup differences is unchanged (model-based SEs, metafor's), and overall_* is the
    pooled estimate of all studies with the moderator: pooled.csv's primary row."""
    from trialmeta.tables.pooled import pool_analyses

    effects, trials, t = tables
    wald = t["subgroups"]
    hk = ex.subgroups_table(effects, trials, ["alloc", "prevtype"], ci_method="hksj")
    assert list(hk.columns) == ex.SUBGROUP_COLUMNS
    assert set(wald["ci_method"]) == {"wald"}
    single = hk["k"] == 1
    assert (hk.loc[single, "ci_method"] == "wald").all()
    assert (hk.loc[~single, "ci_method"] == "hksj").all()
    np.testing.assert_allclose(hk["estimate"], wald["estimate"], rtol=1e-12)
    np.testing.assert_allclose(hk["Q_between"], wald["Q_between"], rtol=1e-12)
    assert not np.allclose(hk.loc[~single, "ci_low"], wald.loc[~single, "ci_low"])
    r = hk[(hk.analysis_id == "bcg_tb") & (hk.measure == "RR") & (hk.level == "random")].iloc[0]
    lv = trials[trials.source_file.str.startswith("dat.bcg") & (trials.alloc == "random")]
    sel = effects[(effects.analysis_id == "bcg_tb") & (effects.measure == "RR")]
    sel = sel[sel.source_row.isin(lv.source_row)]
    mu, lo, hi = _hksj_by_hand(sel.yi.to_numpy(float), sel.vi.to_numpy(float), r["tau2"])
    np.testing.assert_allclose([r.estimate, r.ci_low, r.ci_high], [mu, lo, hi], rtol=1e-10)
    pooled, _ = pool_analyses(effects, [], tau2_methods=("REML",), ci_methods=("hksj",))
    prim = pooled[pooled.model == "random"].set_index(["analysis_id", "measure"])
    for (aid, m), g in hk[hk.analysis_id == "bcg_tb"].groupby(["analysis_id", "measure"]):
        p = prim.loc[(aid, m)]
        assert (g["overall_k"] == p["k"]).all()
        for c in ("estimate", "ci_low", "ci_high", "pval"):
            np.testing.assert_allclose(g[f"overall_{c}"], p[c], rtol=1e-9, err_msg=c)


def test_exploration_tables_follow_the_primary_ci_method(tables):
    """The workflow's builder: subgroups always, leave-one-out and cumulative by default
    (sensitivity_ci_method: primary) carry the primary CI method; wald stays selectable."""
    effects, trials, _ = tables
    cfg = {"subgroups": ["alloc"], "tau2_methods": ["REML"], "ci_methods": ["hksj", "wald"]}
    out = ex.exploration_tables(effects, trials, cfg)
    for name in ("leave_one_out", "cumulative"):
        assert set(out[name]["ci_method"]) == {"hksj"}, name
    assert set(out["subgroups"].loc[out["subgroups"].k > 1, "ci_method"]) == {"hksj"}
    chosen = ex.exploration_tables(effects, trials, dict(cfg, sensitivity_ci_method="wald"))
    assert set(chosen["leave_one_out"]["ci_method"]) == {"wald"}
    assert set(chosen["subgroups"].loc[chosen["subgroups"].k > 1, "ci_method"]) == {"hksj"}
    wald_first = ex.exploration_tables(effects, trials, dict(cfg, ci_methods=["wald", "hksj"]))
    assert set(wald_first["cumulative"]["ci_method"]) == {"wald"}

"""Table builders (exploration.py): contract columns, all analyses in one call, and the numbers
equal the metafor reference (tight) when the effects table is built from the reference escalc."""

import numpy as np
import pandas as pd
import pytest

from helpers.bias_reference_helpers import TIGHT, check
from helpers.reference_data import load_reference
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
        rows = t[np.all([t[c].astype(str) == str(v) for c, v in a["filter"].items()], axis=0)]
        for m in a["measures"]:
            e = a["results"][m]["escalc"]
            effects.append(
                pd.DataFrame(
                    {
                        "analysis_id": aid,
                        "study_id": e["study_id"],
                        "measure": m,
                        "scale": a["results"][m]["scale"],
                        "yi": e["yi"],
                        "vi": e["vi"],
                        "source_file": rows["source_file"].to_numpy(),
                        "source_row": rows["source_row"].to_numpy(),
                        "events_treat": rows["events_treat"].to_numpy(),
                        "n_treat": rows["n_treat"].to_numpy(),
                        "events_ctrl": rows["events_ctrl"].to_numpy(),
                        "n_ctrl": rows["n_ctrl"].to_numpy(),
                    }
                )
            )
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

"""escalc yi, vi and continuity_corrected for every reference dataset / analysis / measure.

The effect sizes are computed by :func:`trialmeta.stats.effect_sizes.compute_effect_sizes` from the raw
columns of every reference ``trials.csv`` (all datasets in ONE call), and compared with metafor's
``escalc`` at 1e-10 relative (closed form; tests/reference/README.md). The other continuity
options (``add``, ``to``, ``drop00``) are checked against tests/reference_extra/continuity.json
(written by tests/reference_extra/generate_continuity.R with metafor 3.8-1).
"""

import json

import numpy as np
import pandas as pd
import pytest

from helpers.reference_data import (
    CLOSED_FORM_RTOL,
    ROOT,
    analysis_rows,
    as_float,
    assert_rel,
    load_reference,
    reference_cases,
    reference_datasets,
)
from trialmeta.inputs.errors import InputError
from trialmeta.stats.effect_sizes import binary_effects
from trialmeta.tables.effects import compute_effect_sizes

KEYS = ["therapy", "comparator", "condition", "outcome", "outcome_type"]
CASES = reference_cases()


def _all_trials():
    """Every reference trials.csv row that belongs to an analysis, with analysis_id/source columns."""
    parts = []
    for ds in reference_datasets():
        trials, ref = load_reference(ds)
        trials["source_file"] = f"tests/reference/{ds}/trials.csv"
        trials["source_row"] = np.arange(len(trials)) + 2
        trials["analysis_id"] = pd.Series(pd.NA, index=trials.index, dtype=object)
        for aid, a in ref["analyses"].items():
            sel = pd.Series(True, index=trials.index)
            for col, val in a["filter"].items():
                sel &= trials[col].astype(str) == str(val)
            assert trials.loc[sel, "analysis_id"].isna().all(), "analyses overlap"
            trials.loc[sel, "analysis_id"] = f"{ds}.{aid}"
        parts.append(trials[trials["analysis_id"].notna()])
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def effects():
    trials = _all_trials()
    return compute_effect_sizes(
        trials,
        measures={"binary": ["OR", "RR", "RD"], "continuous": ["MD", "SMD"]},
        continuity={"add": 0.5, "to": "only0", "drop00": False},
    )


def test_every_case_is_covered(effects):
    got = set(zip(effects["analysis_id"], effects["measure"]))
    for ds, aid, m in CASES:
        assert (f"{ds}.{aid}", m) in got
    assert {m for _, _, m in CASES} == {"OR", "RR", "RD", "MD", "SMD", "logHR", "logOR"}


@pytest.mark.parametrize("ds,aid,measure", CASES, ids=[f"{d}-{a}-{m}" for d, a, m in CASES])
def test_escalc(effects, ds, aid, measure):
    trials, ref = load_reference(ds)
    a = ref["analyses"][aid]
    rows = analysis_rows(trials, a)
    esc = a["results"][measure]["escalc"]
    got = effects[(effects["analysis_id"] == f"{ds}.{aid}") & (effects["measure"] == measure)]
    assert list(got["study_id"]) == list(esc["study_id"]) == list(rows["study_id"])
    label = f"{ds}/{aid}/{measure}"
    assert_rel(got["yi"].to_numpy(), as_float(esc["yi"]), CLOSED_FORM_RTOL, label + " yi")
    assert_rel(got["vi"].to_numpy(), as_float(esc["vi"]), CLOSED_FORM_RTOL, label + " vi")
    assert_rel(
        got["sei"].to_numpy(), np.sqrt(as_float(esc["vi"])), CLOSED_FORM_RTOL, label + " sei"
    )
    assert (got["scale"] == a["results"][measure]["scale"]).all()
    if a["filter"]["outcome_type"] == "binary":
        assert list(got["continuity_corrected"]) == list(esc["continuity_corrected"]), label
        for col in ("events_treat", "n_treat", "events_ctrl", "n_ctrl"):
            assert np.array_equal(got[col].to_numpy(float), rows[col].to_numpy(float))
    else:
        assert not got["continuity_corrected"].any()
    assert not got["dropped"].any()
    # 95 % Wald CI on the analysis scale
    z = 1.959963984540054
    assert_rel(
        got["ci_low"].to_numpy(), got["yi"].to_numpy() - z * got["sei"].to_numpy(), 1e-14, label
    )
    assert_rel(
        got["ci_high"].to_numpy(), got["yi"].to_numpy() + z * got["sei"].to_numpy(), 1e-14, label
    )
    # primary measure = first configured measure of the outcome type (generic rows: their own)
    first = {"binary": "OR", "continuous": "MD"}.get(a["filter"]["outcome_type"], measure)
    assert (got["primary_measure"] == (measure == first)).all()
    # key and source columns passed through
    for k in KEYS:
        assert (got[k].astype(str) == str(a["filter"][k])).all()
    assert (got["source_file"] == f"tests/reference/{ds}/trials.csv").all()


def test_table_shape_and_order(effects):
    trials = _all_trials()
    n_bin = (trials["outcome_type"] == "binary").sum()
    n_cont = (trials["outcome_type"] == "continuous").sum()
    n_gen = (trials["outcome_type"] == "generic").sum()
    assert len(effects) == 3 * n_bin + 2 * n_cont + n_gen
    # rows in input order, measures in configuration order within a row
    first = effects.drop_duplicates(["source_file", "source_row"])
    assert list(zip(first["source_file"], first["source_row"])) == list(
        zip(trials["source_file"], trials["source_row"])
    )
    bin_meas = effects.loc[effects["outcome_type"] == "binary", "measure"].to_numpy()
    assert list(bin_meas[:3]) == ["OR", "RR", "RD"]
    # moderators are passed through (used by subgroup analyses / meta-regression)
    assert "ablat" in effects.columns and "year" in effects.columns


def test_drop00_marks_double_zero_studies():
    trials, ref = load_reference("dat.collins1985b")
    trials["analysis_id"] = trials["outcome"]
    eff = compute_effect_sizes(
        trials, measures={"binary": ["OR"]}, continuity={"add": 0.5, "to": "only0", "drop00": True}
    )
    a = trials["events_treat"].to_numpy() == 0
    c = trials["events_ctrl"].to_numpy() == 0
    assert (eff["dropped"].to_numpy() == (a & c)).all() and (a & c).sum() == 2
    assert eff.loc[eff["dropped"], ["yi", "vi", "sei"]].isna().all().all()
    assert not eff.loc[eff["dropped"], "continuity_corrected"].any()
    # the kept studies are unchanged (to="only0" is per study)
    base = compute_effect_sizes(trials, measures={"binary": ["OR"]})
    keep = ~eff["dropped"].to_numpy()
    assert np.array_equal(eff["yi"].to_numpy()[keep], base["yi"].to_numpy()[keep])


# --------------------------------------------------------------------------- add / to / drop00
# tests/reference_extra/continuity.json (generate_continuity.R): escalc with every `to`, two `add`
# values and both `drop00` settings on the reference analyses that contain zero cells.
CONTINUITY = json.loads((ROOT / "tests" / "reference_extra" / "continuity.json").read_text())[
    "escalc"
]


@pytest.mark.parametrize(
    "rec",
    CONTINUITY,
    ids=[
        f"{r['dataset']}-{r['measure']}-{r['to']}-add{r['add']}-drop00{r['drop00']}"
        for r in CONTINUITY
    ],
)
def test_escalc_continuity_options(rec):
    a, n1, c, n2 = (
        np.asarray(rec[k], float) for k in ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
    )
    es = binary_effects(
        a,
        n1,
        c,
        n2,
        rec["measure"],
        add=rec["add"],
        to=rec["to"],
        drop00=rec["drop00"],
        check=False,
    )
    yi, vi = as_float(rec["yi"]), as_float(rec["vi"])
    label = (
        f"{rec['dataset']} {rec['measure']} to={rec['to']} add={rec['add']} drop00={rec['drop00']}"
    )
    finite = np.isfinite(yi) & np.isfinite(vi)
    assert_rel(es.yi[finite], yi[finite], CLOSED_FORM_RTOL, label + " yi")
    assert_rel(es.vi[finite], vi[finite], CLOSED_FORM_RTOL, label + " vi")
    d00 = ((a == 0) & (c == 0)) | ((a == n1) & (c == n2))
    assert np.array_equal(es.dropped, d00 & rec["drop00"])
    assert np.isnan(yi[es.dropped]).all()
    # kept studies without a usable effect (to="none" and a zero cell) are exactly the input errors
    kept = ~es.dropped
    assert np.array_equal(es.invalid(), kept & ~(finite & (vi > 0)))
    if rec["to"] != "none":
        assert not es.invalid().any()
        return
    table = pd.DataFrame(
        {
            "study_id": [f"s{i}" for i in range(a.size)],
            "outcome_type": "binary",
            "analysis_id": "x",
            "events_treat": a,
            "n_treat": n1,
            "events_ctrl": c,
            "n_ctrl": n2,
            "source_file": "t.csv",
            "source_row": np.arange(a.size) + 2,
        }
    )
    cont = {"add": rec["add"], "to": "none", "drop00": rec["drop00"]}
    if es.invalid().any():
        with pytest.raises(InputError) as err:
            compute_effect_sizes(table, measures={"binary": [rec["measure"]]}, continuity=cont)
        assert [p.row for p in err.value.problems] == list(np.flatnonzero(es.invalid()) + 2)
    else:
        compute_effect_sizes(table, measures={"binary": [rec["measure"]]}, continuity=cont)

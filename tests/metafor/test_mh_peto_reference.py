"""Mantel-Haenszel and Peto pooling against metafor's ``rma.mh`` / ``rma.peto`` (closed form, 1e-10).

Every binary reference analysis is pooled in ONE batched call per measure (all analyses padded to
(K, n) arrays), and every field metafor stores in the ``MH`` / ``PETO`` blocks is compared.
"""

import json

import numpy as np
import pytest

from helpers.reference_data import (
    CLOSED_FORM_RTOL,
    ROOT,
    as_float,
    assert_rel,
    case,
    reference_cases,
)
from trialmeta.stats.batch import pad_by_group
from trialmeta.stats.mantel_haenszel import mantel_haenszel
from trialmeta.stats.peto import peto
from trialmeta.stats.result import Status

BINARY = [(ds, aid, m) for ds, aid, m in reference_cases() if m in ("OR", "RR", "RD")]
COUNTS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")

#: metafor field -> (PooledResult attribute or extra key)
COMMON = {
    "estimate": "estimate",
    "se": "se",
    "zval": "stat",
    "pval": "pval",
    "ci.lb": "ci_low",
    "ci.ub": "ci_high",
    "QE": "Q",
    "QE.df": "Q_df",
    "QEp": "Q_pval",
    "I2": "I2",
    "H2": "H2",
    "k": "k",
    "k.yi": "k_yi",
}
MH_OR = {
    "k.pos": "k_pos",
    "CMH": "CMH",
    "CMHp": "CMH_pval",
    "CO": "CO",
    "COp": "CO_pval",
    "BD": "BD",
    "BDp": "BD_pval",
    "TA": "TA",
    "TAp": "TA_pval",
}


def _batch(measure):
    """(cases, a, n1, c, n2, mask) of every binary reference analysis having ``measure``."""
    cases = [(ds, aid) for ds, aid, m in BINARY if m == measure]
    codes, cols = [], [[] for _ in COUNTS]
    for i, (ds, aid) in enumerate(cases):
        rows, _, _ = case(ds, aid, measure)
        codes.append(np.full(len(rows), i))
        for j, c in enumerate(COUNTS):
            cols[j].append(rows[c].to_numpy(float))
    mask, _, *arrs = pad_by_group(np.concatenate(codes), *[np.concatenate(c) for c in cols])
    return cases, *arrs, mask


def _value(res, key, i):
    return res.extra[key][i] if key in res.extra else getattr(res, key)[i]


@pytest.fixture(scope="module")
def pooled():
    out = {}
    for m in ("OR", "RR", "RD"):
        cases, a, n1, c, n2, mask = _batch(m)
        out[m] = (cases, mantel_haenszel(a, n1, c, n2, mask, m))
    cases, a, n1, c, n2, mask = _batch("OR")
    out["PETO"] = (cases, peto(a, n1, c, n2, mask))
    return out


def _check(res, i, ref, fields, label):
    assert "error" not in ref, f"{label}: metafor failed: {ref['error']}"
    for f, key in fields.items():
        expected = as_float(ref[f])
        assert_rel(_value(res, key, i), expected, CLOSED_FORM_RTOL, f"{label} {f}")


@pytest.mark.parametrize("ds,aid,measure", BINARY, ids=[f"{d}-{a}-{m}" for d, a, m in BINARY])
def test_mh(pooled, ds, aid, measure):
    cases, res = pooled[measure]
    i = cases.index((ds, aid))
    _, _, r = case(ds, aid, measure)
    ref = r["MH"]
    fields = dict(COMMON, **(MH_OR if measure == "OR" else {}))
    _check(res, i, ref, fields, f"{ds}/{aid}/{measure} MH")
    if measure != "OR":
        assert ref["k.pos"] is None and np.isnan(res.extra["k_pos"][i])
        assert np.isnan(res.extra["CMH"][i]) and np.isnan(res.extra["BD"][i])
    assert res.model == "mh" and res.status[i] == Status.OK
    assert np.isnan(res.df[i]) and np.isnan(res.tau2[i])
    w = res.weights[i]
    assert abs(w.sum() - 100) < 1e-9 and (w >= 0).all()


@pytest.mark.parametrize("ds,aid", [(d, a) for d, a, m in BINARY if m == "OR"])
def test_peto(pooled, ds, aid):
    cases, res = pooled["PETO"]
    i = cases.index((ds, aid))
    _, _, r = case(ds, aid, "OR")
    _check(res, i, r["PETO"], COMMON, f"{ds}/{aid} PETO")
    assert res.model == "peto" and res.status[i] == Status.OK
    assert abs(res.weights[i].sum() - 100) < 1e-9


def test_one_batched_call_covers_every_binary_analysis(pooled):
    n_or = sum(1 for *_, m in BINARY if m == "OR")
    assert len(pooled["OR"][0]) == n_or == pooled["OR"][1].estimate.shape[0]
    assert pooled["PETO"][1].estimate.shape == (n_or,)
    # double-zero studies do not count in the heterogeneity tests (k_yi < k)
    cases, res = pooled["OR"]
    i = cases.index(("dat.collins1985b", "perinatal_death"))
    assert res.k[i] == 9 and res.extra["k_yi"][i] == 7


def test_degenerate_tables_are_flagged_not_silent():
    # analysis 0: no events at all; analysis 1: a single table; analysis 2: events only in one arm
    a = np.array([[0, 0], [3, 0], [0, 0]], float)
    c = np.array([[0, 0], [5, 0], [4, 2]], float)
    n = np.full((3, 2), 10.0)
    mask = np.array([[True, True], [True, False], [True, True]])
    mh = mantel_haenszel(a, n, c, n, mask, "OR")
    assert mh.status[0] == Status.NO_EVENTS and np.isnan(mh.estimate[0])
    assert mh.status[1] == Status.SINGLE_STUDY and np.isfinite(mh.estimate[1])
    assert mh.status[2].startswith(Status.FAILED) and np.isnan(mh.estimate[2])
    pt = peto(a, n, c, n, mask)
    assert pt.status[0] == Status.NO_EVENTS and np.isnan(pt.estimate[0])
    assert np.isfinite(pt.estimate[2]) and pt.estimate[2] < 0
    rr = mantel_haenszel(a, n, c, n, mask, "RR")
    assert rr.status[0] == Status.NO_EVENTS and np.isnan(rr.estimate[0])


# --------------------------------------------------------------------------- degenerate inputs
# tests/reference_extra/continuity.json (generate_continuity.R): rma.mh / rma.peto on a single
# table, on tables of which only one is informative (k.yi = 1), with events in one arm only, and
# with arms in which every patient had the event.
POOLED_EXTRA = json.loads((ROOT / "tests" / "reference_extra" / "continuity.json").read_text())[
    "pooled"
]


@pytest.mark.parametrize(
    "rec", POOLED_EXTRA, ids=[f"{r['name']}-{r['model']}-{r['measure']}" for r in POOLED_EXTRA]
)
def test_degenerate_sets_of_tables(rec):
    t = rec["tables"]
    arrs = [np.atleast_2d(np.asarray(t[k], float)) for k in ("ai", "n1i", "ci", "n2i")]
    mask = np.ones_like(arrs[0], bool)
    res = (
        peto(*arrs, mask)
        if rec["model"] == "PETO"
        else mantel_haenszel(*arrs, mask, rec["measure"])
    )
    fields = {k: v for k, v in dict(COMMON, **MH_OR).items() if k in rec and k != "QE.df"}
    label = f"{rec['name']} {rec['model']} {rec['measure']}"
    for f, key in fields.items():
        atol = 1e-12 if f in ("BD", "TA") else 0.0  # metafor: BD = 1.6e-31 for a single table
        assert_rel(
            _value(res, key, 0),
            as_float(rec[f])[0] if isinstance(rec[f], list) else as_float(rec[f]),
            CLOSED_FORM_RTOL,
            f"{label} {f}",
            atol=atol,
        )
    expected_status = (
        Status.SINGLE_STUDY
        if rec["k"] == 1
        else Status.OK
        if rec["estimate"][0] is not None
        else f"{Status.FAILED}:mh_estimate_undefined"
    )
    assert res.status[0] == expected_status

"""Sparse binary panel (sparse_binary.csv): analyses with a zero cell only; MH OR without
correction, Peto OR, IV OR with 1/2 correction (REML) and MH RD side by side, each equal to the
metafor reference (MH/PETO closed form 1e-10; REML vs tight 1e-8); disagreement flags."""

import numpy as np
import pandas as pd
import pytest

from helpers.bias_reference_helpers import CLOSED, TIGHT, check
from helpers.reference_data import ARM_COUNTS, analysis_rows, load_reference, reference_effects
from trialmeta.tables.exploration import SPARSE_COLUMNS, sparse_binary_table

DATASETS = [
    ("dat.collins1985b", "perinatal_death"),
    ("dat.li2007", "magnesium_mortality"),
    ("dat.nielweise2007", "crbsi"),
    ("dat.bcg", "bcg_tb"),
]


@pytest.fixture(scope="module")
def panel():
    frames = []
    for ds, aid in DATASETS:
        t, ref = load_reference(ds)
        a = ref["analyses"][aid]
        rows = analysis_rows(t, a)
        sourced = rows.assign(  # arm counts as floats, as in the workflow's effects table
            source_file=ds,
            source_row=np.arange(len(rows)),
            **{c: rows[c].astype(float) for c in ARM_COUNTS},
        )
        frames.append(reference_effects(a, sourced, aid))
    return sparse_binary_table(pd.concat(frames, ignore_index=True))


def test_only_sparse_analyses_and_columns(panel):
    assert list(panel.columns) == SPARSE_COLUMNS
    assert set(panel.analysis_id) == {
        "perinatal_death",
        "magnesium_mortality",
        "crbsi",
    }  # bcg has no zero cell
    assert all(
        list(g.method) == ["MH_OR_no_cc", "PETO_OR", "IV_OR_cc0.5", "MH_RD_no_cc"]
        for _, g in panel.groupby("analysis_id")
    )


@pytest.mark.parametrize("ds,aid", DATASETS[:3])
def test_values_match_metafor(panel, ds, aid):
    res = load_reference(ds)[1]["analyses"][aid]["results"]
    rows = panel[panel.analysis_id == aid].set_index("method")
    for method, ref, tol in (
        ("MH_OR_no_cc", res["OR"]["MH"], CLOSED),
        ("PETO_OR", res["OR"]["PETO"], CLOSED),
        ("MH_RD_no_cc", res["RD"]["MH"], CLOSED),
        ("IV_OR_cc0.5", res["OR"]["tight"]["REML"], TIGHT),
    ):
        for col, key in (
            ("estimate", "estimate"),
            ("se", "se"),
            ("ci_low", "ci.lb"),
            ("ci_high", "ci.ub"),
            ("pval", "pval"),
        ):
            check(rows.loc[method, col], ref[key], tol, 0.0, f"{method}.{col}")


def test_flags(panel):
    for _aid, g in panel.groupby("analysis_id"):
        sig = (g.ci_low > 0) | (g.ci_high < 0)
        assert (g.significant == sig).all()
        d = set(np.sign(g.estimate))
        assert g.disagree_direction.all() == (len(d) > 1) and g.disagree_direction.nunique() == 1
        assert g.disagree_significance.all() == (sig.any() and not sig.all())

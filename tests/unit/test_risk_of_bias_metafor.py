"""rob_sensitivity.csv equals metafor: the restricted analyses (trials at low overall risk of
bias only; trials not at high risk) are rma() on the subset with the primary tau2 estimator and
CI method. Reference: tests/reference_extra/rob_subset.json, written by generate_rob_subset.R
(metafor 3.8-1, metadat dat.bcg with a hand-made judgement vector used only to pick subsets)."""

import json
from pathlib import Path

import pandas as pd
import pytest

from helpers.reference_data import CLOSED_FORM_RTOL, TIGHT_RTOL, assert_rel
from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.risk_of_bias import JUDGEMENT_COLUMNS
from trialmeta.inputs.settings import Settings
from trialmeta.inputs.validate import validate_trials
from trialmeta.tables.effects import compute_effect_sizes
from trialmeta.tables.pooled import pool_analyses
from trialmeta.tables.risk_of_bias import rob_sensitivity_table

REF = json.loads(
    (Path(__file__).resolve().parents[1] / "reference_extra" / "rob_subset.json").read_text()
)
GROUP_BY = ["therapy", "comparator", "condition", "outcome", "outcome_type"]
CI = {"knha": "hksj", "z": "wald"}


def _bcg():
    d = REF["data"]
    n = len(d["trial"])
    raw = pd.DataFrame(
        {
            "study_id": [f"{a} {y} ({t})" for a, y, t in zip(d["author"], d["year"], d["trial"])],
            "therapy": "BCG",
            "comparator": "none",
            "condition": "tuberculosis",
            "outcome": "TB",
            "outcome_type": "binary",
            "events_treat": [str(x) for x in d["tpos"]],
            "n_treat": [str(a + b) for a, b in zip(d["tpos"], d["tneg"])],
            "events_ctrl": [str(x) for x in d["cpos"]],
            "n_ctrl": [str(a + b) for a, b in zip(d["cpos"], d["cneg"])],
            "source_file": "bcg.csv",
            "source_row": range(2, n + 2),
        }
    )
    trials, _ = validate_trials(raw, GROUP_BY)
    trials = assign_analysis_ids(trials, GROUP_BY)
    judgements = trials[["therapy", "comparator", "condition", "outcome", "outcome_type"]].copy()
    judgements["analysis_id"] = trials["analysis_id"]
    judgements["study_id"] = trials["study_id"]
    for c in JUDGEMENT_COLUMNS:
        judgements[c] = d["overall"]
    return trials, judgements


@pytest.mark.parametrize("tau2_method, test", [("REML", "knha"), ("DL", "z"), ("PM", "knha")])
def test_restricted_analyses_equal_metafor_rma_on_the_subset(tau2_method, test):
    trials, judgements = _bcg()
    settings = Settings.coerce(
        {
            "group_by": GROUP_BY,
            "measures": {"binary": ["RR"]},
            "tau2_methods": [tau2_method],
            "ci_methods": [CI[test]],
        }
    )
    effects = compute_effect_sizes(trials, measures={"binary": ["RR"]})
    pooled, _ = pool_analyses(
        effects, GROUP_BY, tau2_methods=[tau2_method], ci_methods=[CI[test]], models=["random"]
    )
    table = rob_sensitivity_table(effects, judgements, pooled, settings).set_index("restriction")
    assert list(table.index) == ["all", "low_risk_only", "excluding_high_risk"]
    rtol = CLOSED_FORM_RTOL if tau2_method == "DL" else TIGHT_RTOL
    cases = [c for c in REF["cases"] if c["tau2_method"] == tau2_method and c["test"] == test]
    assert len(cases) == 3
    for c in cases:
        row = table.loc[c["restriction"]]
        assert int(row["k"]) == c["k"]
        for ours, theirs in (
            ("estimate", "estimate"),
            ("se", "se"),
            ("ci_low", "ci.lb"),
            ("ci_high", "ci.ub"),
        ):
            assert_rel(float(row[ours]), c[theirs], rtol, f"{c['restriction']} {ours}")
        assert row["scale"] == "log"
    assert table.loc["low_risk_only", "k"] < table.loc["excluding_high_risk", "k"] < 13

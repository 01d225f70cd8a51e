"""Within-trial and between-trial interactions (trialmeta.stats.interactions) against metafor
3.8-1: tests/reference_extra/interactions.json, written by
tests/reference_extra/generate_interactions.R (escalc per level, d = yi_a - yi_b,
vd = vi_a + vi_b, rma(d, vd, method = "FE" / "DL" / "REML", test = "knha"); each level pooled
separately and the test for subgroup differences, rma(est, sei, mods = ~ factor, method = "FE")).

Closed forms (FE, DL, the difference and QM of FE levels): 1e-10 relative; REML (tight control):
1e-8 relative.
"""

import json

import numpy as np
import pytest

from helpers.reference_data import CLOSED_FORM_RTOL, ROOT, TIGHT_RTOL, assert_rel
from trialmeta.stats.effect_sizes import binary_effects
from trialmeta.stats.interactions import between_trial, trial_differences, within_trial

REF = json.loads((ROOT / "tests" / "reference_extra" / "interactions.json").read_text())
CASES = [(name, m) for name in REF["cases"] for m in ("RR", "OR")]


def _levels(case, measure):
    d = REF["cases"][case]["data"]
    col = {k: np.array([row[k] for row in d], dtype=float) for k in d[0] if k != "study"}
    a = binary_effects(col["ai"], col["n1a"], col["ci"], col["n2a"], measure)
    b = binary_effects(col["bi"], col["n1b"], col["di"], col["n2b"], measure)
    return a, b


@pytest.mark.parametrize("case, measure", CASES)
def test_per_level_effects_and_differences(case, measure):
    ref = REF["cases"][case][measure]
    a, b = _levels(case, measure)
    for ours, theirs in ((a.yi, "yi_a"), (a.vi, "vi_a"), (b.yi, "yi_b"), (b.vi, "vi_b")):
        assert_rel(ours, ref[theirs], CLOSED_FORM_RTOL, theirs)
    d, vd = trial_differences(a.yi, a.vi, b.yi, b.vi)
    assert_rel(d, ref["d"], CLOSED_FORM_RTOL, "d")
    assert_rel(vd, ref["vd"], CLOSED_FORM_RTOL, "vd")


def _within(case, measure, tau2_method, ci_method):
    ref = REF["cases"][case][measure]
    d, vd = np.array(ref["d"]), np.array(ref["vd"])
    return within_trial(np.zeros(d.size, int), d, vd, 1, tau2_method, ci_method)


def _check(res, ref, rtol, random=True):
    assert_rel(res.estimate, ref["estimate"], rtol, "estimate")
    assert_rel(res.se, ref["se"], rtol, "se")
    assert_rel(res.pval, ref["pval"], rtol, "pval")
    assert_rel(res.ci_low, ref["ci.lb"], rtol, "ci.lb")
    assert_rel(res.ci_high, ref["ci.ub"], rtol, "ci.ub")
    assert_rel(res.Q, ref["QE"], rtol, "QE")
    assert_rel(res.Q_pval, ref["QEp"], rtol, "QEp")
    assert_rel(res.I2, ref["I2"], rtol, "I2", atol=1e-12)
    if random:
        assert_rel(res.tau2, ref["tau2"], rtol, "tau2", atol=1e-12)


@pytest.mark.parametrize("case, measure", CASES)
def test_within_trial_fixed_effect(case, measure):
    fixed, _ = _within(case, measure, "DL", "wald")
    _check(fixed, REF["cases"][case][measure]["within"]["FE"], CLOSED_FORM_RTOL, random=False)


@pytest.mark.parametrize("case, measure", CASES)
def test_within_trial_dl(case, measure):
    _, random = _within(case, measure, "DL", "wald")
    _check(random, REF["cases"][case][measure]["within"]["DL"], CLOSED_FORM_RTOL)


@pytest.mark.parametrize("case, measure", CASES)
def test_within_trial_reml_knha(case, measure):
    _, random = _within(case, measure, "REML", "hksj")
    _check(random, REF["cases"][case][measure]["within"]["REML_knha_tight"], TIGHT_RTOL)


@pytest.mark.parametrize("case, measure", CASES)
@pytest.mark.parametrize("model", ["FE", "REML"])
def test_between_trial(case, measure, model):
    ref = REF["cases"][case][measure]["between"][model]
    a, b = _levels(case, measure)
    k = a.yi.size
    fit = between_trial(
        np.zeros(2 * k, int),
        np.r_[np.zeros(k, bool), np.ones(k, bool)],
        np.r_[a.yi, b.yi],
        np.r_[a.vi, b.vi],
        1,
        model,
    )
    rtol = CLOSED_FORM_RTOL if model == "FE" else TIGHT_RTOL
    for ours, theirs in (
        (fit.est_a, "est_a"),
        (fit.se_a, "se_a"),
        (fit.est_b, "est_b"),
        (fit.se_b, "se_b"),
        (fit.estimate, "difference"),
        (fit.se, "se"),
        (fit.Q_between, "QM"),
        (fit.Q_between_pval, "QMp"),
    ):
        assert_rel(ours, ref[theirs], rtol, theirs)
    if model == "REML":
        assert_rel(fit.tau2_a, ref["tau2_a"], rtol, "tau2_a", atol=1e-12)

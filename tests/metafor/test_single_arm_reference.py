"""Single-arm measures against metafor 3.8-1 (tests/reference_extra/single_arm.json, written by
tests/reference_extra/generate_single_arm.R with R 4.2.2, metafor 3.8-1, metadat and lme4).

* escalc PLO / PAS / PFT / PR on dat.pritz1997 (two studies with x = n) with the default
  continuity rule and with to = "all" / "none"; MC / SMCR on a hand-made pre-post table at
  ri = 0.3, 0.5, 0.7: closed form, 1e-10 relative;
* pooled with every tau2 method and Wald / Knapp-Hartung CIs, with the back-transformed
  predict() values (PFT: transf.ipft.hm): closed-form methods 1e-10, iterative ones (metafor's
  tight control) 1e-8;
* rma.glmm(measure = "PLO") (lme4 nAGQ = 7): 1e-5 relative (lme4's optimiser tolerance), and
  1e-6 against glmer with a tight optimiser (the optimum of the same AGQ likelihood).
"""

import json

import numpy as np
import pytest

from helpers.reference_data import CLOSED_FORM_RTOL, ROOT, TIGHT_RTOL, as_float, assert_rel
from trialmeta.stats.batch import StudyBatch, pad_by_group
from trialmeta.stats.glmm import binomial_normal_glmm
from trialmeta.stats.pooling import random_effects
from trialmeta.stats.single_arm import (
    back_transform,
    change_effects,
    harmonic_mean,
    proportion_effects,
)

REF = ROOT / "tests" / "reference_extra" / "single_arm.json"
CLOSED = ("DL", "HE", "HS", "SJ")
ITERATIVE = ("REML", "ML", "PM", "EB")
CI = {"z": "wald", "knha": "hksj"}


@pytest.fixture(scope="module")
def ref():
    with open(REF, encoding="utf-8") as fh:
        return json.load(fh)


def test_generated_with_metafor_381_and_lme4(ref):
    assert ref["generated_with"]["metafor"] in ("3.8.1", "3.8-1")
    assert ref["generated_with"]["lme4"]


@pytest.mark.parametrize(
    "key",
    [
        "PLO|default",
        "PAS|default",
        "PFT|default",
        "PR|default",
        "PLO|all",
        "PLO|none",
        "PR|all",
        "PR|none",
    ],
)
def test_escalc_proportions(ref, key):
    entry = ref["proportions"][key]
    x, n = np.array(ref["pritz"]["xi"], float), np.array(ref["pritz"]["ni"], float)
    to = "only0" if entry["to"] == "default" else entry["to"]
    es = proportion_effects(x, n, entry["measure"], add=0.5, to=to)
    # escalc writes NA where yi / vi are infinite (x = n without correction): invalid either way
    assert (~np.isfinite(es.yi) == np.isnan(as_float(entry["yi"]))).all()
    yi, vi = (np.where(np.isfinite(v), v, np.nan) for v in (es.yi, es.vi))
    assert_rel(yi, as_float(entry["yi"]), CLOSED_FORM_RTOL, f"{key} yi", atol=1e-300)
    assert_rel(vi, as_float(entry["vi"]), CLOSED_FORM_RTOL, f"{key} vi", atol=1e-300)
    if "ipft" in entry:
        assert_rel(back_transform(es.yi, "PFT", n), as_float(entry["ipft"]), 1e-10, "ipft")


def _pooled_cases(ref):
    for key, entry in ref["proportions"].items():
        if "pooled" in entry:
            yield key, entry
    for key, entry in ref["change"].items():
        yield key, entry


@pytest.mark.parametrize("method", CLOSED + ITERATIVE)
@pytest.mark.parametrize("test", ["z", "knha"])
def test_pooled_every_tau2_method(ref, method, test):
    """Every measure pooled with ``method``: estimate, se, CI, tau2, PI and back-transforms."""
    block = "default" if method in CLOSED else "tight"
    rtol = CLOSED_FORM_RTOL if method in CLOSED else TIGHT_RTOL
    n = np.array(ref["pritz"]["ni"], float)
    for key, entry in _pooled_cases(ref):
        r = entry["pooled"][f"{method}|{test}|{block}"]
        batch = StudyBatch.from_list([(as_float(entry["yi"]), as_float(entry["vi"]))])
        res = random_effects(batch, method, CI[test], "metafor", q_profile=False)
        scale_tau2 = max(float(np.var(as_float(entry["yi"]))), 1e-300)
        assert_rel(res.tau2, as_float(r["tau2"]), rtol, f"{key} tau2", atol=1e-11 * scale_tau2)
        for ours, theirs in (
            ("estimate", "estimate"),
            ("se", "se"),
            ("ci_low", "ci.lb"),
            ("ci_high", "ci.ub"),
            ("pi_low", "pi.lb"),
            ("pi_high", "pi.ub"),
        ):
            assert_rel(getattr(res, ours), as_float(r[theirs]), rtol, f"{key} {method} {ours}")
        measure = key.split("|")[0]
        if measure in ("PLO", "PAS", "PFT", "PR"):
            values = np.array(
                [res.estimate[0], res.ci_low[0], res.ci_high[0], res.pi_low[0], res.pi_high[0]]
            )
            back = back_transform(values, measure, harmonic_mean(n))
            assert_rel(back, as_float(r["back"]), rtol, f"{key} {method} back-transformed")


@pytest.mark.parametrize("ri", ["0.3", "0.5", "0.7"])
def test_escalc_change(ref, ri):
    pp = {k: np.array(v, float) for k, v in ref["prepost"].items()}
    common = dict(
        mean_baseline=pp["m_pre"],
        sd_baseline=pp["sd_pre"],
        mean_followup=pp["m_post"],
        sd_followup=pp["sd_post"],
        ri=float(ri),
    )
    for measure in ("MC", "SMCR"):
        es = change_effects(pp["n"], measure, **common)
        entry = ref["change"][f"{measure}|{ri}"]
        assert_rel(es.yi, as_float(entry["yi"]), CLOSED_FORM_RTOL, f"{measure} {ri} yi")
        assert_rel(es.vi, as_float(entry["vi"]), CLOSED_FORM_RTOL, f"{measure} {ri} vi")


def _glmm(ref):
    names = list(ref["glmm"])
    codes = np.concatenate([[i] * len(ref["glmm"][n]["xi"]) for i, n in enumerate(names)])
    x = np.concatenate([ref["glmm"][n]["xi"] for n in names]).astype(float)
    n = np.concatenate([ref["glmm"][n]["ni"] for n in names]).astype(float)
    mask, _, xs, ns = pad_by_group(codes, x, n)
    return names, binomial_normal_glmm(xs, ns, mask)


def test_glmm_matches_rma_glmm_batched(ref):
    """All reference sets fitted in one batched call."""
    names, res = _glmm(ref)
    assert res.converged.all()
    for i, name in enumerate(names):
        g = ref["glmm"][name]
        for ours, theirs in (
            ("beta", "estimate"),
            ("se", "se"),
            ("ci_low", "ci.lb"),
            ("ci_high", "ci.ub"),
        ):
            assert_rel(getattr(res, ours)[i : i + 1], as_float(g[theirs]), 1e-5, f"{name} {ours}")
        assert_rel(res.tau2[i : i + 1], as_float(g["tau2"]), 1e-5, f"{name} tau2", atol=1e-8)
        t = g["tight"]
        assert_rel(res.beta[i : i + 1], as_float(t["estimate"]), 1e-6, f"{name} tight beta")
        assert_rel(res.se[i : i + 1], as_float(t["se"]), 1e-6, f"{name} tight se")
        assert_rel(res.tau2[i : i + 1], as_float(t["tau2"]), 1e-6, f"{name} tight tau2", atol=1e-8)

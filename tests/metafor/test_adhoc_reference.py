"""Modified HKSJ (``ci_method="hksj_adhoc"``) against metafor 3.8-1 ``rma(..., test="adhoc")``.

Reference: tests/reference_extra/adhoc.json, written by tests/reference_extra/generate_adhoc.R
with R 4.2.2 and metafor 3.8-1 (Debian package r-cran-metafor 3.8-1-1, i.e. the same metafor
version as tests/reference). For every reference case (dataset x analysis x measure of
tests/reference, on the escalc yi/vi stored in its metafor.json) and every tau2 method it holds
estimate, se, pval, ci.lb, ci.ub, tau2 and ``predict()``'s pi.lb / pi.ub.

metafor 3.8-1 (R/rma.uni.r): ``s2w <- RSS.knha / (k - p)`` (0 when ``RSS.knha <= eps``), then
``if (test == "adhoc") s2w[s2w < 1] <- 1``, ``vb <- s2w * vb``, t with ``k - p`` df; predict.rma
uses the same t quantile and the scaled ``vb``: ``pred +- crit sqrt(vb + tau2)``.

* closed form (DL, HE, HS, SJ), metafor's defaults: 1e-10 relative;
* iterative (REML, ML, PM, EB), metafor's "tight" control of the case: 1e-8 relative.

Two paths: :func:`random_effects_given_tau2` fed with metafor's tau2 (the adhoc interval in
isolation) and the full :func:`random_effects` with trialmeta's own tau2.
"""

import json

import numpy as np
import pytest

from helpers.reference_data import (
    CLOSED_FORM_RTOL,
    ROOT,
    TIGHT_RTOL,
    as_float,
    assert_rel,
    load_reference,
    reference_cases,
)
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.pooling import random_effects, random_effects_given_tau2

ADHOC = ROOT / "tests" / "reference_extra" / "adhoc.json"
CLOSED = ("DL", "HE", "HS", "SJ")
ITERATIVE = ("REML", "ML", "PM", "EB")
FIELDS = {
    "estimate": "estimate",
    "se": "se",
    "pval": "pval",
    "ci_low": "ci.lb",
    "ci_high": "ci.ub",
    "pi_low": "pi.lb",
    "pi_high": "pi.ub",
}


@pytest.fixture(scope="module")
def reference():
    with open(ADHOC, encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def batch(reference):
    ys, vs = [], []
    for c in reference["cases"]:
        _, ref = load_reference(c["dataset"])
        esc = ref["analyses"][c["analysis"]]["results"][c["measure"]]["escalc"]
        y, v = as_float(esc["yi"]), as_float(esc["vi"])
        ok = np.isfinite(y) & np.isfinite(v)
        ys.append(y[ok])
        vs.append(v[ok])
    return StudyBatch.from_list(list(zip(ys, vs)))


def _blocks(reference, method):
    """metafor's adhoc fits of ``method`` for every case (tight control for iterative ones)."""
    blk = "default" if method in CLOSED else "tight"
    return [c[blk][method] for c in reference["cases"]]


def _col(blocks, key):
    return np.array([as_float(b[key]) for b in blocks])


def test_reference_covers_every_case_with_metafor_381(reference):
    gen = reference["generated_with"]
    assert gen["metafor"] in ("3.8.1", "3.8-1")
    cases = {(c["dataset"], c["analysis"], c["measure"]) for c in reference["cases"]}
    assert cases == set(reference_cases())
    for c in reference["cases"]:
        for m in CLOSED + ITERATIVE:
            blk = c["default"][m] if m in CLOSED else c["tight"][m]
            assert "error" not in blk and blk["test"] == "adhoc"


def test_truncation_is_exercised(reference, batch):
    """Some cases have q < 1 (adhoc differs from plain HKSJ) and some q > 1 (they agree)."""
    blocks = _blocks(reference, "DL")
    tau2 = _col(blocks, "tau2")
    plain = random_effects_given_tau2(batch, tau2, "hksj")
    adhoc = random_effects_given_tau2(batch, tau2, "hksj_adhoc")
    wider = adhoc.se > plain.se * (1 + 1e-12)
    assert wider.sum() >= 3 and (~wider).sum() >= 3


@pytest.mark.parametrize("method", CLOSED + ITERATIVE)
def test_given_metafor_tau2(reference, batch, method):
    blocks = _blocks(reference, method)
    rtol = CLOSED_FORM_RTOL if method in CLOSED else TIGHT_RTOL
    res = random_effects_given_tau2(batch, _col(blocks, "tau2"), "hksj_adhoc", "metafor")
    assert res.ci_method == "hksj_adhoc"
    assert_rel(res.df, _col(blocks, "df"), 0, f"{method} df")
    for ours, theirs in FIELDS.items():
        assert_rel(getattr(res, ours), _col(blocks, theirs), rtol, f"{method} {ours}", atol=1e-300)


@pytest.mark.parametrize("method", CLOSED + ITERATIVE)
def test_full_path_with_own_tau2(reference, batch, method):
    blocks = _blocks(reference, method)
    rtol = CLOSED_FORM_RTOL if method in CLOSED else TIGHT_RTOL
    res = random_effects(batch, method, "hksj_adhoc", "metafor", q_profile=False)
    tau2_ref = _col(blocks, "tau2")
    # tau2 at the 0 boundary: absolute agreement on the scale of the variances
    assert_rel(res.tau2, tau2_ref, rtol, f"{method} tau2", atol=1e-12 * np.nanmax(tau2_ref))
    for ours, theirs in FIELDS.items():
        assert_rel(getattr(res, ours), _col(blocks, theirs), rtol, f"{method} {ours}", atol=1e-300)

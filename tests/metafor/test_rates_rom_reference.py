"""IRR / IRD (rates) and ROM (ratio of means) against metafor 3.8-1.

Numbers from ``tests/reference_extra/generate_rates_rom.R`` (rates_rom.json): escalc on
metadat's dat.hart1999 (IRR, IRD) and dat.normand1999 (ROM), escalc's continuity correction of
rates on a hand-made set with zero counts, and rma with every tau2 estimator trialmeta supports.
Closed forms (escalc, FE, DL, HE, HS, SJ) at 1e-10 relative, iterative estimators (REML, ML, PM,
EB; tight control) at 1e-8.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.effect_sizes import continuous_effects
from trialmeta.stats.pooling import fixed_effect, random_effects
from trialmeta.stats.tau2 import TAU2_METHODS
from trialmeta.stats.time_to_event import rate_effects, ratio_of_means

REF = json.loads(
    (Path(__file__).parents[1] / "reference_extra" / "rates_rom.json").read_text("utf-8")
)
CLOSED, ITERATIVE = 1e-10, 1e-8


def _f(x):
    return np.array([np.nan if v is None else float(v) for v in np.atleast_1d(x)], float)


def _close(got, want, rtol, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got, float), _f(want), rtol=rtol, atol=atol)


@pytest.mark.parametrize("measure", ["IRR", "IRD"])
def test_rate_effects_hart1999(measure):
    r = REF["rates"][measure]
    es = rate_effects(r["x1i"], r["t1i"], r["x2i"], r["t2i"], measure)
    _close(es.yi, r["yi"], CLOSED)
    _close(es.vi, r["vi"], CLOSED)
    assert es.scale == ("log" if measure == "IRR" else "raw")


@pytest.mark.parametrize("case", range(len(REF["continuity"])))
def test_rate_continuity_correction(case):
    c = REF["continuity"][case]
    es = rate_effects(
        c["x1i"], c["t1i"], c["x2i"], c["t2i"], c["measure"], add=c["add"], to=c["to"],
        drop00=c["drop00"],
    )  # fmt: skip
    want_y, want_v = _f(c["yi"]), _f(c["vi"])
    fin = np.isfinite(want_y) & np.isfinite(want_v)
    _close(es.yi[fin], want_y[fin], CLOSED)
    _close(es.vi[fin], want_v[fin], CLOSED)
    # metafor's NA (dropped double zero, or a zero count without correction) is never a
    # finite usable study here
    assert not (np.isfinite(es.yi[~fin]) & np.isfinite(es.vi[~fin]) & (es.vi[~fin] > 0)).any()


def test_rom_normand1999():
    r = REF["rom"]
    args = (r["m1i"], r["sd1i"], r["n1i"], r["m2i"], r["sd2i"], r["n2i"])
    for es in (ratio_of_means(*args), continuous_effects(*args, "ROM")):
        _close(es.yi, r["yi"], CLOSED)
        _close(es.vi, r["vi"], CLOSED)
        assert es.scale == "log"


def _cases():
    return [("IRR", REF["rates"]["IRR"]), ("IRD", REF["rates"]["IRD"]), ("ROM", REF["rom"])]


@pytest.mark.parametrize("name,case", _cases(), ids=["IRR", "IRD", "ROM"])
@pytest.mark.parametrize("method", TAU2_METHODS)
def test_pooled_every_tau2_method(name, case, method):
    batch = StudyBatch.from_list([(_f(case["yi"]), _f(case["vi"]))])
    want = case["pooled"][method]
    res = random_effects(batch, method, "wald", "metafor")
    tol = ITERATIVE if method in ("REML", "ML", "PM", "EB") else CLOSED
    _close(res.tau2, want["tau2"], tol, atol=1e-10)
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("ci_low", "ci.lb"),
                         ("ci_high", "ci.ub"), ("pval", "pval")):  # fmt: skip
        _close(getattr(res, ours), want[theirs], tol, atol=1e-10)
    _close(res.Q, want["QE"], CLOSED)
    _close(res.I2, want["I2"], tol, atol=1e-8)


@pytest.mark.parametrize("name,case", _cases(), ids=["IRR", "IRD", "ROM"])
def test_fixed_effect(name, case):
    batch = StudyBatch.from_list([(_f(case["yi"]), _f(case["vi"]))])
    res, want = fixed_effect(batch), case["pooled"]["FE"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("ci_low", "ci.lb"),
                         ("ci_high", "ci.ub"), ("Q", "QE")):  # fmt: skip
        _close(getattr(res, ours), want[theirs], CLOSED)

"""Fixed / random-effects pooling, heterogeneity and the Q-profile CI against metafor 3.8-1.

Every reference case (dataset x analysis x measure) is pooled in ONE batched call per method (all
cases padded into one StudyBatch, so padding and mixed k are exercised too), using the ``escalc``
yi/vi of the reference (independent of trialmeta's effect sizes).

* closed form (``FE``, ``DL``, ``HE``, ``HS``, ``SJ`` top level): 1e-10 relative;
* iterative (``REML``, ``ML``, ``PM``, ``EB``, ``REML_KNHA``, ``confint_REML``) against the
  ``tight`` block: 1e-8 relative (tests/reference/README.md, "Default vs tight").

Two paths are tested: :func:`random_effects_given_tau2` fed with metafor's tau2 (pooling,
heterogeneity and intervals in isolation), and the full :func:`random_effects` path with tau2
from :mod:`trialmeta.stats.tau2` (only when that module exists).
"""

import importlib.util

import numpy as np
import pytest

from helpers.reference_data import (
    CLOSED_FORM_RTOL,
    TIGHT_RTOL,
    as_float,
    assert_rel,
    load_reference,
    reference_cases,
)
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.heterogeneity import cochran_q, q_profile_ci, typical_variance
from trialmeta.stats.pooling import fixed_effect, random_effects, random_effects_given_tau2

CASES = reference_cases()
IDS = [f"{d}-{a}-{m}" for d, a, m in CASES]
HAVE_TAU2 = importlib.util.find_spec("trialmeta.stats.tau2") is not None

CLOSED = ("DL", "HE", "HS", "SJ")
ITERATIVE = ("REML", "ML", "PM", "EB")


def _result(ds, aid, m):
    _, ref = load_reference(ds)
    return ref["analyses"][aid]["results"][m]


@pytest.fixture(scope="module")
def batch():
    ys, vs = [], []
    for ds, aid, m in CASES:
        esc = _result(ds, aid, m)["escalc"]
        ys.append(as_float(esc["yi"]))
        vs.append(as_float(esc["vi"]))
    return StudyBatch.from_list(list(zip(ys, vs)))


def _ref_tau2(block_name, tight):
    out = []
    for ds, aid, m in CASES:
        r = _result(ds, aid, m)
        blk = r["tight"][block_name] if tight else r[block_name]
        out.append(as_float(blk["tau2"]))
    return np.array(out)


@pytest.fixture(scope="module")
def fits(batch):
    """Results with metafor's tau2 plugged in (closed form: top level; iterative: tight)."""
    out = {"FE": fixed_effect(batch)}
    for m in CLOSED:
        out[m] = random_effects_given_tau2(batch, _ref_tau2(m, False), "wald", "metafor")
    for m in ITERATIVE:
        out[m] = random_effects_given_tau2(batch, _ref_tau2(m, True), "wald", "metafor")
    tau2 = _ref_tau2("REML", True)
    qp = q_profile_ci(batch, 0.95, tau2=tau2)
    out["REML_KNHA"] = random_effects_given_tau2(batch, tau2, "hksj", "metafor", qp_ci=qp)
    out["QP"] = qp
    return out


@pytest.fixture(scope="module")
def full_fits(batch):
    if not HAVE_TAU2:
        pytest.skip("trialmeta.stats.tau2 not available yet")
    out = {m: random_effects(batch, m, "wald", "metafor") for m in CLOSED + ITERATIVE}
    out["REML_KNHA"] = random_effects(batch, "REML", "hksj", "metafor")
    return out


def _row(res, i, name):
    return res.column(name)[i]


def _weights(res, batch, i):
    return res.weights[i][batch.mask[i]]


# metafor field -> PooledResult column
COMMON = {
    "estimate": "estimate",
    "se": "se",
    "pval": "pval",
    "ci.lb": "ci_low",
    "ci.ub": "ci_high",
    "QE": "Q",
    "QE.df": "Q_df",
    "QEp": "Q_pval",
    "I2": "I2",
    "H2": "H2",
}
RANDOM = {
    **COMMON,
    "zval": "stat",
    "tau2": "tau2",
    "tau": "tau",
    "vt": "vt",
    "pi.lb": "pi_low",
    "pi.ub": "pi_high",
}
KNHA = {
    **COMMON,
    "tval": "stat",
    "df": "df",
    "tau2": "tau2",
    "tau": "tau",
    "vt": "vt",
    "pi.lb": "pi_low",
    "pi.ub": "pi_high",
    "pi.df": "pi_df",
}


def _check_block(res, batch, i, ref, mapping, rtol, label, atol_of=lambda f: 0.0):
    assert "error" not in ref, f"{label}: reference holds an error"
    for f, col in mapping.items():
        if f not in ref:
            continue
        assert_rel(_row(res, i, col), ref[f], rtol, f"{label} {f}", atol=atol_of(f))
    assert_rel(
        _weights(res, batch, i),
        as_float(ref["weights_pct"]),
        rtol,
        f"{label} weights_pct",
        atol=atol_of("weights_pct"),
    )
    assert (
        res.status[i] in ("ok",)
        or res.status[i].startswith("ok;")
        or "tau2_boundary" in res.status[i]
    )


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_fixed_effect(fits, batch, i):
    ref = _result(*CASES[i])["FE"]
    res = fits["FE"]
    _check_block(res, batch, i, ref, {**COMMON, "zval": "stat"}, CLOSED_FORM_RTOL, f"{IDS[i]} FE")
    assert np.isnan(res.df[i]) and np.isnan(res.tau2[i]) and np.isnan(res.pi_low[i])


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
@pytest.mark.parametrize("method", CLOSED)
def test_closed_form_random_effects(fits, batch, i, method):
    ref = _result(*CASES[i])[method]
    _check_block(fits[method], batch, i, ref, RANDOM, CLOSED_FORM_RTOL, f"{IDS[i]} {method}")
    assert np.isnan(fits[method].df[i])


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
@pytest.mark.parametrize("method", ITERATIVE + ("REML_KNHA",))
def test_iterative_given_tau2_vs_tight(fits, batch, i, method):
    ref = _result(*CASES[i])["tight"][method]
    mapping = KNHA if method == "REML_KNHA" else RANDOM
    _check_block(fits[method], batch, i, ref, mapping, TIGHT_RTOL, f"{IDS[i]} {method} (tight)")


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_heterogeneity_pieces(batch, i):
    ref = _result(*CASES[i])["DL"]
    q = cochran_q(batch)
    assert_rel(q.Q[i], ref["QE"], CLOSED_FORM_RTOL, "QE")
    assert_rel(q.df[i], ref["QE.df"], 0, "QE.df")
    assert_rel(q.pval[i], ref["QEp"], CLOSED_FORM_RTOL, "QEp")
    assert_rel(typical_variance(batch)[i], ref["vt"], CLOSED_FORM_RTOL, "vt")


def _check_confint(qp, tau2_est, vt, i, ref, rtol, label, atol=0.0):
    assert "error" not in ref
    got = {
        "tau2": (tau2_est, qp.tau2_ci_low[i], qp.tau2_ci_high[i]),
        "tau": (np.sqrt(tau2_est), qp.tau_ci_low[i], qp.tau_ci_high[i]),
        "I2": (100 * tau2_est / (tau2_est + vt), qp.I2_ci_low[i], qp.I2_ci_high[i]),
        "H2": ((tau2_est + vt) / vt, qp.H2_ci_low[i], qp.H2_ci_high[i]),
    }
    for name, (est, lo, hi) in got.items():
        # tau = sqrt(tau2): an absolute error e in tau2 ~ 0 becomes sqrt(e) in tau
        a = np.sqrt(atol) if name == "tau" else atol * (100 if name == "I2" else 1)
        assert_rel(est, ref[name]["estimate"], rtol, f"{label} {name} estimate", atol=a)
        assert_rel(lo, ref[name]["ci.lb"], rtol, f"{label} {name} ci.lb")
        assert_rel(hi, ref[name]["ci.ub"], rtol, f"{label} {name} ci.ub")
    assert qp.lb_sign[i] == ref["lb.sign"], (
        f"{label}: lb.sign {qp.lb_sign[i]!r} != {ref['lb.sign']!r}"
    )
    assert qp.ub_sign[i] == ref["ub.sign"], (
        f"{label}: ub.sign {qp.ub_sign[i]!r} != {ref['ub.sign']!r}"
    )
    assert qp.converged[i]


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_q_profile_ci_vs_tight(fits, batch, i):
    r = _result(*CASES[i])
    ref = r["tight"]["confint_REML"]
    vt = typical_variance(batch)[i]
    _check_confint(fits["QP"], as_float(r["tight"]["REML"]["tau2"]), vt, i, ref, TIGHT_RTOL, IDS[i])
    # attached to the HKSJ result as well
    res = fits["REML_KNHA"]
    assert_rel(res.tau2_ci_low[i], ref["tau2"]["ci.lb"], TIGHT_RTOL, "tau2_ci_low")
    assert_rel(res.I2_ci_high[i], ref["I2"]["ci.ub"], TIGHT_RTOL, "I2_ci_high")
    for side in ("lb", "ub"):
        sign = ref[f"{side}.sign"]
        assert (f"tau2_ci_{side}{sign}" in res.status[i]) == bool(sign), (side, sign, res.status[i])


def test_q_profile_boundary_rules():
    """metafor's rules: Q(0) < chi2_0.025 -> [0, 0] with '<' signs; Q(tau2_max) large -> '>'."""
    homog = StudyBatch.from_arrays([[0.1, 0.1, 0.1, 0.1]], [[0.1, 0.2, 0.3, 0.4]])
    qp = q_profile_ci(homog)
    assert qp.tau2_ci_low[0] == 0 and qp.tau2_ci_high[0] == 0
    assert qp.lb_sign[0] == "<" and qp.ub_sign[0] == "<"
    huge = StudyBatch.from_arrays([[-100.0, 100.0, -90.0, 95.0]], [[1e-6, 1e-6, 1e-6, 1e-6]])
    qp = q_profile_ci(huge)
    assert qp.tau2_ci_high[0] == 100.0 and qp.ub_sign[0] == ">"
    qp = q_profile_ci(huge, tau2_max=1e6)
    assert qp.ub_sign[0] == "" and 100 < qp.tau2_ci_high[0] < 1e6


# ---- the full path, tau2 estimated by trialmeta.stats.tau2 -------------------------------------------


def _scale_atol(i, factor):
    """Absolute slack for quantities that are ~0 (tau2 ~ 1e-16 in 'tight'): factor * var(yi)."""
    y = as_float(_result(*CASES[i])["escalc"]["yi"])
    return factor * (np.var(y, ddof=1) if y.size > 1 else 1.0)


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
@pytest.mark.parametrize("method", CLOSED)
def test_full_path_closed_form(full_fits, batch, i, method):
    ref = _result(*CASES[i])[method]
    _check_block(
        full_fits[method], batch, i, ref, RANDOM, CLOSED_FORM_RTOL, f"{IDS[i]} {method} full"
    )


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
@pytest.mark.parametrize("method", ITERATIVE + ("REML_KNHA",))
def test_full_path_iterative_vs_tight(full_fits, batch, i, method):
    ref = _result(*CASES[i])["tight"][method]
    mapping = KNHA if method == "REML_KNHA" else RANDOM
    s = _scale_atol(i, TIGHT_RTOL)

    def atol_of(f):
        # tau2 of order 1e-16 in the reference (converged to 0): absolute slack on the tau2 scale
        return {
            "tau2": s,
            "tau": np.sqrt(s),
            "I2": 100 * s / max(as_float(ref["vt"]), 1e-300),
            "H2": s / max(as_float(ref["vt"]), 1e-300),
        }.get(f, 0.0)

    _check_block(
        full_fits[method],
        batch,
        i,
        ref,
        mapping,
        TIGHT_RTOL,
        f"{IDS[i]} {method} full",
        atol_of=atol_of,
    )


@pytest.mark.parametrize("i", range(len(CASES)), ids=IDS)
def test_full_path_q_profile_vs_tight(full_fits, batch, i):
    r = _result(*CASES[i])
    res = full_fits["REML_KNHA"]
    qp_ref = r["tight"]["confint_REML"]
    assert_rel(res.tau2_ci_low[i], qp_ref["tau2"]["ci.lb"], TIGHT_RTOL, "tau2_ci_low")
    assert_rel(res.tau2_ci_high[i], qp_ref["tau2"]["ci.ub"], TIGHT_RTOL, "tau2_ci_high")
    assert_rel(res.I2_ci_low[i], qp_ref["I2"]["ci.lb"], TIGHT_RTOL, "I2_ci_low")
    assert_rel(res.I2_ci_high[i], qp_ref["I2"]["ci.ub"], TIGHT_RTOL, "I2_ci_high")
    for side in ("lb", "ub"):
        sign = qp_ref[f"{side}.sign"]
        assert (f"tau2_ci_{side}{sign}" in res.status[i]) == bool(sign), (side, sign, res.status[i])

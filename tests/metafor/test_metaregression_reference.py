"""Mixed-effects meta-regression vs metafor's ``metareg_REML`` (tight block), every field, every
formula, dataset and measure; plus a cross-check with PyMARE.

dat.lau1992 OR ``~ year``: metafor with its default control stops with "Fisher scoring algorithm
did not converge" (stored as an ``error`` at the top level). trialmeta's REML is a global
maximiser (grid + safeguarded Newton) and converges; the test checks it against metafor's
``tight`` run (maxiter 10000), which converges to the same optimum.
"""

import numpy as np
import pytest

from helpers.bias_reference_helpers import TIGHT, cases_with, check, load_case
from trialmeta.stats.metaregression import design_from_formula, design_matrix, meta_regression

CASES = [
    (ds, aid, m, f)
    for ds, aid, m in cases_with("metareg_REML")
    for f in load_case(ds, aid, m)[2]["tight"]["metareg_REML"]
]


def fit_formula(rows, y, v, formula, **kw):
    X, names = design_from_formula(rows, formula)
    res = meta_regression(
        y[None], v[None], np.ones((1, y.size), bool), X[None], term_names=names, **kw
    )
    return res, names


@pytest.mark.parametrize("ds,aid,m,formula", CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES])
def test_metareg_tight(ds, aid, m, formula):
    rows, a, r, y, v, batch, s = load_case(ds, aid, m)
    ref = r["tight"]["metareg_REML"][formula]
    assert "error" not in ref
    res, names = fit_formula(rows, y, v, formula)
    assert res.status[0] in ("ok", "ok;tau2_boundary")
    assert list(ref["coefficients"]) == names
    for j, n in enumerate(names):
        for key, arr in (
            ("coefficients", res.coef),
            ("se", res.se),
            ("ci.lb", res.ci_low),
            ("ci.ub", res.ci_high),
        ):
            check(arr[0, j], ref[key][n], TIGHT, 0.0, f"{key}[{n}]")
        check(res.stat[0, j], ref["zval"][n], TIGHT, 1.0, f"zval[{n}]")
        check(res.pval[0, j], ref["pval"][n], TIGHT, 0.0, f"pval[{n}]")
    check(res.tau2, ref["tau2"], TIGHT, s, "tau2")
    check(res.se_tau2, ref["se.tau2"], TIGHT, s, "se.tau2")
    for key, got, sc in (
        ("QM", res.QM, 1.0),
        ("QMdf", res.QM_df, 0.0),
        ("QMp", res.QM_pval, 0.0),
        ("R2", res.R2, 1.0),
        ("QE.df", res.QE_df, 0.0),
        ("k", res.k, 0.0),
    ):
        check(got, ref[key], TIGHT, sc, key)
    # QE: metafor computes y'Py with P = W - WX(X'WX)^-1X'W, which cancels badly when a numeric
    # moderator is far from 0 (year ~ 1990: cond(X'WX) ~ 1e13); metafor's own QE is then off in
    # the 8th digit (dat.egger2001 OR ~ year: 23.21119266 vs exact 23.21119340). trialmeta uses the
    # residual form sum w (y - Xb)^2. So: exact (50-digit mpmath) at 1e-12, metafor at 1e-6.
    check(res.QE, exact_qe(y, v, design_of(rows, formula)), 1e-12, 0.0, "QE exact")
    check(res.QE, ref["QE"], 1e-6, 1.0, "QE")
    # I2 and H2 use vt = (k - p) / tr(P): the same cancellation in metafor (dat.egger2001 RR ~ year:
    # I2 56.4208005797 vs 56.4207999694 exact at metafor's tau2); exact check at 1e-10, metafor 1e-6
    vt = exact_vt(y, v, design_of(rows, formula))
    check(res.I2, 100 * res.tau2 / (vt + res.tau2), 1e-10, 0.0, "I2 exact")
    check(res.I2, ref["I2"], 1e-6, 1.0, "I2")
    check(res.H2, ref["H2"], 1e-6, 1.0, "H2")
    check(res.QE_pval, ref["QEp"], 1e-6, 0.0, "QEp")


def design_of(rows, formula):
    return design_from_formula(rows, formula)[0]


def exact_vt(y, v, X):
    import mpmath as mp

    with mp.workdps(50):
        W = mp.diag([1 / mp.mpf(float(t)) for t in v])
        Xm = mp.matrix([[mp.mpf(float(c)) for c in row] for row in X])
        P = W - W * Xm * mp.inverse(Xm.T * W * Xm) * Xm.T * W
        return float((len(y) - X.shape[1]) / sum(P[i, i] for i in range(len(y))))


def exact_qe(y, v, X):
    """Residual heterogeneity of the FE weighted fit in 50-digit arithmetic (independent check)."""
    import mpmath as mp

    with mp.workdps(50):
        W = mp.diag([1 / mp.mpf(float(t)) for t in v])
        Xm = mp.matrix([[mp.mpf(float(c)) for c in row] for row in X])
        Y = mp.matrix([mp.mpf(float(t)) for t in y])
        b = mp.lu_solve(Xm.T * W * Xm, Xm.T * W * Y)
        r = Y - Xm * b
        return float(sum(W[i, i] * r[i] ** 2 for i in range(len(y))))


def test_lau1992_year_converges_where_metafor_default_failed():
    rows, a, r, y, v, batch, s = load_case("dat.lau1992", "streptokinase_mortality", "OR")
    assert "error" in r["metareg_REML"]["~ year"]  # metafor, default maxiter = 100
    res, _ = fit_formula(rows, y, v, "~ year")
    assert res.status[0] in ("ok", "ok;tau2_boundary") and res.tau2_fit.converged[0]
    check(res.tau2, r["tight"]["metareg_REML"]["~ year"]["tau2"], TIGHT, s, "tau2")


@pytest.mark.parametrize("method,rtol", [("REML", 1e-5), ("ML", 1e-5), ("DL", 1e-10)])
def test_cross_check_pymare(method, rtol):
    """PyMARE 0.0.13 (scipy optimiser for ML/REML: agrees to its own tolerance, ~1e-6)."""
    pytest.importorskip("pymare")
    from pymare import estimators

    rows, a, r, y, v, batch, s = load_case("dat.bcg", "bcg_tb", "OR")
    X = np.column_stack([np.ones(y.size), rows["ablat"].to_numpy(float)])
    est = (
        estimators.DerSimonianLaird()
        if method == "DL"
        else estimators.VarianceBasedLikelihoodEstimator(method=method)
    )
    est.fit(y[:, None], v[:, None], X)
    res = meta_regression(y[None], v[None], np.ones((1, y.size), bool), X[None], method=method)
    np.testing.assert_allclose(res.tau2[0], np.ravel(est.params_["tau2"])[0], rtol=rtol)
    np.testing.assert_allclose(res.coef[0], np.ravel(est.params_["fe_params"]), rtol=rtol)


def test_batched_equals_one_by_one():
    """Analyses of different k fitted together give the same numbers as fitted alone."""
    rng = np.random.default_rng(1)
    K, n = 6, 12
    k = rng.integers(4, n + 1, K)
    mask = np.arange(n)[None, :] < k[:, None]
    x = rng.normal(size=(K, n))
    v = rng.uniform(0.02, 0.3, (K, n))
    y = 0.2 + 0.3 * x + rng.normal(scale=np.sqrt(v + 0.05))
    X = np.stack([np.ones((K, n)), x], -1)
    both = meta_regression(y, v, mask, X, test="knha")
    for i in range(K):
        one = meta_regression(
            y[i : i + 1, : k[i]],
            v[i : i + 1, : k[i]],
            mask[i : i + 1, : k[i]],
            X[i : i + 1, : k[i]],
            test="knha",
        )
        np.testing.assert_allclose(both.coef[i], one.coef[0], rtol=1e-10)
        np.testing.assert_allclose(both.se[i], one.se[0], rtol=1e-10)
        np.testing.assert_allclose(both.tau2[i], one.tau2[0], rtol=1e-9, atol=1e-14)
        np.testing.assert_allclose(both.QM[i], one.QM[0], rtol=1e-9)
    assert np.all(both.df == k - 2)


EXTRA = __import__("json").loads(
    (
        __import__("pathlib").Path(__file__).resolve().parents[1]
        / "reference_extra"
        / "metareg_extra.json"
    ).read_text()
)["cases"]


@pytest.mark.parametrize(
    "c", EXTRA, ids=[f"{c['measure']}-{c['formula']}-{c['method']}-{c['test']}" for c in EXTRA]
)
def test_metareg_options_vs_metafor(c):
    """Knapp-Hartung, ML and DL meta-regression vs metafor 3.8-1 (tests/reference_extra/
    generate_metareg_extra.R, tight control; numbers written with 15 significant digits)."""
    from helpers.reference_data import load_reference

    rows, _ = load_reference("dat.bcg")
    y, v = np.array(c["yi"]), np.array(c["vi"])
    s = np.var(y, ddof=1)
    if c["formula"] == "~ factor(alloc)":
        X, names = design_matrix(rows["alloc"].tolist(), categorical=True, name="alloc")
    else:
        cols = [np.ones(y.size), rows["ablat"].to_numpy(float)]
        names = ["intrcpt", "ablat"]
        if "year" in c["formula"]:
            cols.append(rows["year"].to_numpy(float))
            names.append("year")
        X = np.column_stack(cols)
    assert names == c["terms"]
    res = meta_regression(
        y[None], v[None], np.ones((1, y.size), bool), X[None], method=c["method"], test=c["test"]
    )
    tol = 1e-8
    for key, got in (
        ("coef", res.coef[0]),
        ("se", res.se[0]),
        ("stat", res.stat[0]),
        ("ci.lb", res.ci_low[0]),
        ("ci.ub", res.ci_high[0]),
    ):
        check(got, np.array(c[key], float), tol, 0.0, key)
    # a p-value's relative error is ~z^2 times that of z (OR ~ ablat + year, ML: p = 4.4e-15, z = 7.8,
    # cond(X'WX) ~ 1e13): p-values below 1e-6 are compared at 1e-8 * 1e-6 absolute
    check(res.pval[0], np.array(c["pval"], float), tol, 1e-6, "pval")
    check(res.tau2, c["tau2"], tol, s, "tau2")
    check(res.se_tau2, c["se.tau2"], tol, s, "se.tau2")
    check(res.QM, c["QM"], tol, 0.0, "QM")
    check(res.QM_pval, c["QMp"], tol, 1e-6, "QMp")  # same argument as pval
    if c["test"] == "knha":
        assert (
            res.QM_df[0] == c["QMdf"][0]
            and res.QM_df2[0] == c["QMdf"][1]
            and res.df[0] == y.size - X.shape[1]
        )
    if c["R2"] is not None:
        check(res.R2, c["R2"], tol, 1.0, "R2")
    check(res.QE, c["QE"], 1e-6, 1.0, "QE")  # metafor's y'Py form, see test_metareg_tight
    check(res.I2, c["I2"], 1e-6, 1.0, "I2")

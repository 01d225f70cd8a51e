"""Small-k refusals and edge cases of the small-study methods and the meta-regression se.tau2
(issue 12, item 5), through the statistics functions, ``trialmeta.meta_analysis`` and the
small_study table and report sentence.

Where metafor stops, trialmeta gives NaN numbers and a ``failed:<why>`` status (metafor 5.0-1
sources: ``regtest.r`` stops when ``[1, sei]`` is not of full rank by ``lm``'s QR, tolerance 1e-7;
``rma.uni.r`` stops when ``p + 1 > k`` with tau2 estimated (``p > k`` for FE); ``trimfill.rma.uni.r``
stops at k = 1 and takes the side from the sign of ``rma.uni(yi, vi, mods = sqrt(vi))$beta[2]``,
which cannot be fitted at k = 2 nor has a slope when all SEs are equal).
"""

import numpy as np
import pandas as pd
import pytest

import trialmeta
from trialmeta.report import text as tx
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.metaregression import meta_regression
from trialmeta.stats.small_study import egger_test, trim_and_fill

NUMBERS = ("stat", "pval", "limit_ci_low", "limit_ci_high", "intercept_se", "slope_se")


def _batch(*analyses):
    """A padded batch from (yi, sei) lists of different lengths."""
    n = max(len(y) for y, _ in analyses)
    yi = np.full((len(analyses), n), np.nan)
    vi = np.full((len(analyses), n), np.nan)
    for i, (y, s) in enumerate(analyses):
        yi[i, : len(y)] = y
        vi[i, : len(y)] = np.asarray(s, float) ** 2
    return StudyBatch.from_arrays(yi, vi)


TWO = ([0.1, 0.5], [0.2, 0.4])
FOUR = ([0.1, 0.5, 0.3, 0.2], [0.2, 0.3, 0.1, 0.15])
EQUAL = ([0.1, 0.4, -0.2, 0.3, 0.0, 0.5, 0.2, 0.25, -0.1, 0.35, 0.15], [0.2] * 11)


# ------------------------------------------------------------------------- Egger, lm form
def test_egger_lm_k2_has_no_residual_df():
    """k = 2: the weighted lm fits exactly; R's summary.lm gives NaN SE, t and p (df = 0), not
    SE 0 and t = +-inf. The exact-fit coefficients are kept, as R's coef()."""
    res = egger_test(_batch(TWO), "lm")
    assert res.status[0] == "failed:k = 2, no residual df"
    for name in NUMBERS:
        assert np.isnan(getattr(res, name)[0]), name
    assert res.df[0] == 0
    (y1, y2), (s1, s2) = TWO
    slope = (y2 - y1) / (s2 - s1)
    np.testing.assert_allclose(res.slope[0], slope, rtol=1e-12)
    np.testing.assert_allclose(res.limit_estimate[0], y1 - slope * s1, rtol=1e-12)


def test_egger_lm_k3_still_runs():
    res = egger_test(_batch(FOUR), "lm")
    assert res.status[0] == "ok" and res.df[0] == 2 and np.isfinite(res.stat[0])


# ------------------------------------------------------------------------ Egger, rma form
@pytest.mark.parametrize("method", ["REML", "ML", "DL"])
def test_egger_rma_k2_refused_with_tau2_estimated(method):
    """rma.uni: 'Number of parameters to be estimated is larger than the number of observations'
    (intercept, slope and tau2 from two studies)."""
    res = egger_test(_batch(TWO), "rma", method=method)
    assert res.status[0] == ("failed:k = 2, too many parameters for the data (needs k >= 3)")
    for name in (*NUMBERS, "limit_estimate", "intercept", "slope", "tau2"):
        assert np.isnan(getattr(res, name)[0]), name


def test_egger_rma_k2_fixed_effect_runs():
    """With tau2 fixed at 0 (FE) two coefficients from two studies are allowed (p <= k): an exact
    fit with known variances, z = slope / SE from (X'WX)^-1."""
    res = egger_test(_batch(TWO), "rma", method="FE")
    assert res.status[0].startswith("ok")
    (y1, y2), (s1, s2) = TWO
    X = np.array([[1.0, s1], [1.0, s2]])
    W = np.diag([1 / s1**2, 1 / s2**2])
    se = np.sqrt(np.diag(np.linalg.inv(X.T @ W @ X)))
    slope = (y2 - y1) / (s2 - s1)
    np.testing.assert_allclose(res.slope[0], slope, rtol=1e-10)
    np.testing.assert_allclose(res.stat[0], slope / se[1], rtol=1e-10)


# --------------------------------------------------------------------- equal standard errors
@pytest.mark.parametrize("model", ["rma", "lm"])
@pytest.mark.parametrize("jitter", [0.0, 1e-10])
def test_egger_equal_standard_errors_refused(model, jitter):
    """All SEs equal (exactly, or within R's QR tolerance): no slope; was NaN with status ok."""
    y, s = EQUAL
    s = np.asarray(s) * (1 + jitter * np.arange(len(s)))
    res = egger_test(_batch((y, s)), model)
    assert res.status[0] == "failed:all standard errors equal"
    for name in (*NUMBERS, "slope", "limit_estimate"):
        assert np.isnan(getattr(res, name)[0]), name


def test_trimfill_equal_standard_errors_refused_unless_side_given():
    """The side comes from the sign of the slope on the SEs, which does not exist: refused (side
    '', NaN numbers, no filled studies) instead of a side picked from a NaN slope."""
    tf = trim_and_fill(_batch(EQUAL))
    assert tf.status[0] == "failed:all standard errors equal, side undetermined"
    assert tf.side[0] == "" and tf.k0[0] == 0 and tf.k_total[0] == 11
    assert np.isnan([tf.estimate[0], tf.ci_low[0], tf.se_k0[0], tf.tau2[0]]).all()
    assert np.isnan(tf.fill_yi[0]).all()
    given = trim_and_fill(_batch(EQUAL), side="left")
    assert given.side[0] == "left" and np.isfinite(given.estimate[0])
    assert not str(given.status[0]).startswith("failed")


# ------------------------------------------------------------------------- trim-and-fill k=2
@pytest.mark.parametrize("method", ["REML", "ML", "DL"])
def test_trimfill_k2_side_refused(method):
    tf = trim_and_fill(_batch(TWO), method)
    assert tf.status[0] == ("failed:k = 2, too few studies to estimate the side (needs k >= 3)")
    assert tf.side[0] == "" and np.isnan(tf.estimate[0])


def test_trimfill_k2_runs_with_a_given_side_or_fixed_effect():
    assert np.isfinite(trim_and_fill(_batch(TWO), side="right").estimate[0])
    fe = trim_and_fill(_batch(TWO), "FE")
    assert fe.side[0] in ("left", "right") and np.isfinite(fe.estimate[0])


def test_trimfill_k1_refused():
    tf = trim_and_fill(_batch(([0.3], [0.2])))
    assert tf.status[0] == "failed:k = 1" and np.isnan(tf.estimate[0])


def test_refusals_do_not_touch_the_other_analyses_of_a_batch():
    mixed = _batch(FOUR, TWO, EQUAL)
    for model in ("rma", "lm"):
        alone = egger_test(_batch(FOUR), model).to_frame().iloc[0]
        together = egger_test(mixed, model).to_frame()
        pd.testing.assert_series_equal(together.iloc[0], alone, check_names=False)
        assert together["status"].iloc[1].startswith("failed:k = 2")
        assert together["status"].iloc[2] == "failed:all standard errors equal"
    alone = trim_and_fill(_batch(FOUR)).to_frame().iloc[0]
    together = trim_and_fill(mixed).to_frame()
    pd.testing.assert_series_equal(together.iloc[0], alone, check_names=False)
    assert list(together["side"].iloc[1:]) == ["", ""]


# ------------------------------------------------------------------ API, table and report
def _trials(effects):
    return pd.DataFrame(
        [
            dict(
                study_id=f"S{i}",
                therapy="t",
                comparator="placebo",
                condition="c",
                outcome="o",
                outcome_type="generic",
                measure="MD",
                yi=y,
                sei=s,
            )
            for i, (y, s) in enumerate(zip(*effects))
        ]
    )


def test_api_small_study_k2_reason_and_sentence():
    """Through trialmeta.meta_analysis: k = 2 (min_k=2) runs Begg, refuses the rest; the reason
    names each refused test and the report sentence gives Begg and the reasons."""
    res = trialmeta.meta_analysis(_trials(TWO), measure="MD")
    row = res.small_study(min_k=2).to_frame().iloc[0]
    assert row["reason"] == (
        "Egger (random-effects form): k = 2, too many parameters for the data (needs k >= 3); "
        "classical Egger: k = 2, no residual df; "
        "trim-and-fill: k = 2, too few studies to estimate the side (needs k >= 3)"
    )
    assert np.isnan(row["egger_lm_t"]) and np.isnan(row["egger_rma_z"])
    assert row["egger_lm_df"] == 0 and row["begg_pval"] == 1.0
    assert pd.isna(row["trimfill_k0"]) and row["trimfill_side"] == ""
    assert tx.small_study_ran(row)
    sentence = tx.small_study_sentence(row, "MD", "raw")
    assert sentence == (
        "Egger's test (random-effects form) P not available, classical Egger P not available, "
        "Begg's rank correlation P = 1.00. Trim-and-fill not run. No result from some tests: "
        + row["reason"]
        + "."
    )


def test_api_small_study_equal_standard_errors():
    res = trialmeta.meta_analysis(_trials(EQUAL), measure="MD")
    row = res.small_study().to_frame().iloc[0]  # k = 11 >= 10
    assert row["reason"] == (
        "Egger (random-effects form): all standard errors equal; "
        "classical Egger: all standard errors equal; Begg: tau undefined; "
        "trim-and-fill: all standard errors equal, side undetermined"
    )
    assert not tx.small_study_ran(row)
    assert tx.small_study_sentence(row, "MD", "raw") == (
        f"Small-study tests not run: {row['reason']}."
    )


def test_api_small_study_k_below_min_k_unchanged():
    res = trialmeta.meta_analysis(_trials(FOUR), measure="MD")
    row = res.small_study().to_frame().iloc[0]
    assert row["reason"].startswith("k = 4 < 10: too few studies")
    assert not tx.small_study_ran(row)
    assert tx.small_study_sentence(row, "MD", "raw").startswith("Small-study tests not run: k = 4")


# ------------------------------------------------------------ meta-regression se.tau2 from P
def _uncentred_case():
    """Calendar-year moderator, tiny variances spread over six orders of magnitude, tau2 at 0:
    tr(PP) expanded in (X'WX)^-1 lost up to a third of its value here."""
    rng = np.random.default_rng(214)
    year = np.sort(rng.choice(np.arange(2000, 2021), rng.integers(5, 15), replace=False))
    vi = 10 ** rng.uniform(-12, -6, year.size)
    yi = rng.normal(0, np.sqrt(vi))
    return year.astype(float), yi, vi


def _explicit_p(vi, tau2, year):
    """P = W - W X (X'WX)^-1 X'W with an explicit inverse, on the centred and scaled year (P
    depends only on the column space of X; centring makes X'WX well conditioned)."""
    W = np.diag(1 / (vi + tau2))
    Xc = np.column_stack([np.ones(year.size), (year - 2010) / 10])
    return W - W @ Xc @ np.linalg.inv(Xc.T @ W @ Xc) @ Xc.T @ W


@pytest.mark.parametrize("method", ["REML", "DL"])
def test_se_tau2_uncentred_moderator_tiny_variances(method):
    year, yi, vi = _uncentred_case()
    X = np.column_stack([np.ones(year.size), year])
    fit = meta_regression(yi[None], vi[None], np.ones((1, year.size), bool), X[None], method=method)
    tau2 = fit.tau2[0]
    if method == "REML":
        P = _explicit_p(vi, tau2, year)
        expected = np.sqrt(2 / np.trace(P @ P))
    else:  # DL: P at tau2 = 0
        P = _explicit_p(vi, 0.0, year)
        k, p, trP, trPP = year.size, 2, np.trace(P), np.trace(P @ P)
        expected = np.sqrt((2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * trPP) / trP**2)
    np.testing.assert_allclose(fit.se_tau2[0], expected, rtol=1e-10)


# ------------------------------------------------------------------ report section and funnel
def _near_equal_se_analysis():
    """k = 11, SEs equal within R's QR tolerance but not exactly: Egger and trim-and-fill refuse,
    Begg runs (the variances are not tied)."""
    y, s = EQUAL
    trials = _trials((y, np.asarray(s) * (1 + 1e-10 * np.arange(len(s)))))
    res = trialmeta.meta_analysis(trials, measure="MD")
    return trials, res, res.small_study().to_frame()


def test_report_section_with_some_tests_refused():
    from trialmeta.report.exploration_sections import exploration_context

    _, _, ss = _near_equal_se_analysis()
    row = ss.iloc[0]
    assert np.isfinite(row["begg_pval"]) and row["reason"].startswith(
        "Egger (random-effects form): all standard errors equal"
    )
    aid = row["analysis_id"]
    sec = exploration_context(aid, "MD", "raw", 11, {"small_study": ss}, {}, {})["small_study"]
    (entry,) = sec["entries"]
    assert entry["sentences"][0] == tx.small_study_sentence(row, "MD", "raw")
    assert "No result from some tests: " + row["reason"] in entry["sentences"][0]
    cells = {r[0]: r[1] for r in entry["table"]["rows"]}
    assert cells["Egger (random-effects model, regtest)"] == "not run"
    assert cells["Egger (classical weighted regression)"] == "not run"
    assert cells["Trim-and-fill (L0)"] == "not run"
    assert cells["Begg & Mazumdar rank correlation"].startswith("Kendall's tau = ")
    assert not any("No funnel plot" in n for n in sec["notes"])


def test_report_section_all_tests_refused():
    from trialmeta.report.exploration_sections import exploration_context

    res = trialmeta.meta_analysis(_trials(EQUAL), measure="MD")
    ss = res.small_study().to_frame()
    aid = ss["analysis_id"].iloc[0]
    sec = exploration_context(aid, "MD", "raw", 11, {"small_study": ss}, {}, {})["small_study"]
    assert sec["entries"] == [] and sec["notes"] == [
        f"Small-study tests not run: {ss['reason'].iloc[0]}. No funnel plot is drawn."
    ]


def test_funnel_plot_where_trim_and_fill_refused():
    """The funnel plot is drawn where some tests ran (Begg) and says trim-and-fill did not."""
    from trialmeta.plots.exploration_figures import analysis_exploration_figures

    trials, res, ss = _near_equal_se_analysis()
    aid = ss["analysis_id"].iloc[0]
    figs = dict(
        analysis_exploration_figures(
            aid, res.to_frame(), res.studies_frame(), trials, {"small_study": ss}, {}
        )
    )
    fig = figs[f"{aid}.funnel"]
    assert [t.get_text() for t in fig.texts] == [
        "Funnel plot (trim-and-fill not run: side undetermined)"
    ]

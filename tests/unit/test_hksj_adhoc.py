"""Modified HKSJ (``ci_method="hksj_adhoc"``; Knapp & Hartung 2003; metafor ``test="adhoc"``).

* a two-study case checked by hand (t with 1 df is the Cauchy distribution: quantile
  ``tan(pi (p - 1/2))``, two-sided p-value ``1 - 2 atan(|t|) / pi``);
* properties (hypothesis): the adhoc SE is ``max(HKSJ SE, Wald SE)``, i.e.
  ``sqrt(max(1, q) / sum w)``; its CI is never narrower than plain HKSJ's and equals it when
  ``q >= 1``; estimate, df and critical value are HKSJ's; identical studies get the Wald SE;
* the API accepts it and names it in words.

Agreement with metafor 3.8-1 on the reference datasets: tests/metafor/test_adhoc_reference.py.
"""

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trialmeta import api
from trialmeta.plots.labels import ci_method_text
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.pooling import CI_METHODS, random_effects, random_effects_given_tau2

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T1 = math.tan(math.pi * 0.475)  # t(1) 97.5% quantile = 12.706204736...


def _fit(y, v, tau2, ci):
    return random_effects_given_tau2(StudyBatch.from_arrays([y], [v]), tau2, ci, "metafor")


def test_registered():
    assert "hksj_adhoc" in CI_METHODS
    assert ci_method_text("hksj_adhoc") == "modified HKSJ (Knapp & Hartung 2003)"


def test_two_studies_by_hand_truncated():
    """y = (0, 0.1), v = (0.01, 0.01), tau2 = 0: w = (100, 100), sum w = 200, mu = 0.05,
    q = (100 * 0.05^2 + 100 * 0.05^2) / 1 = 0.5 < 1, so se = sqrt(1/200) (plain HKSJ:
    sqrt(0.5/200) = 0.05)."""
    res = _fit([0.0, 0.1], [0.01, 0.01], 0.0, "hksj_adhoc")
    se = math.sqrt(1 / 200)
    assert res.estimate[0] == 0.05
    np.testing.assert_allclose(res.se[0], se, rtol=1e-14)
    np.testing.assert_allclose(res.df[0], 1)
    np.testing.assert_allclose(res.stat[0], 0.05 / se, rtol=1e-14)
    np.testing.assert_allclose(res.pval[0], 1 - 2 * math.atan(0.05 / se) / math.pi, rtol=1e-12)
    np.testing.assert_allclose(res.ci_low[0], 0.05 - T1 * se, rtol=1e-12)
    np.testing.assert_allclose(res.ci_high[0], 0.05 + T1 * se, rtol=1e-12)
    # prediction interval (metafor's predict): mu +- t(1) sqrt(se^2 + tau2), tau2 = 0
    np.testing.assert_allclose([res.pi_low[0], res.pi_high[0]], [0.05 - T1 * se, 0.05 + T1 * se])
    np.testing.assert_allclose(_fit([0.0, 0.1], [0.01, 0.01], 0.0, "hksj").se[0], 0.05)
    # DL gives tau2 = 0 here (Q = 0.5 < k - 1): the full path agrees
    full = random_effects(StudyBatch.from_arrays([[0.0, 0.1]], [[0.01, 0.01]]), "DL", "hksj_adhoc")
    assert full.tau2[0] == 0
    np.testing.assert_allclose(full.se[0], se, rtol=1e-14)


def test_two_studies_by_hand_not_truncated():
    """y = (0, 0.2), v = (0.01, 0.01), tau2 = 0.01: w = (50, 50), sum w = 100, mu = 0.1,
    q = 2 * 50 * 0.1^2 = 1 -> boundary; tau2 = 0 instead: w = 100, q = 2 > 1, se = sqrt(2/200)
    = 0.1 = plain HKSJ; PI = mu +- t(1) sqrt(se^2 + tau2)."""
    res = _fit([0.0, 0.2], [0.01, 0.01], 0.0, "hksj_adhoc")
    plain = _fit([0.0, 0.2], [0.01, 0.01], 0.0, "hksj")
    np.testing.assert_allclose(res.se[0], 0.1, rtol=1e-14)
    assert res.se[0] == plain.se[0] and res.ci_low[0] == plain.ci_low[0]
    np.testing.assert_allclose(res.ci_high[0], 0.1 + T1 * 0.1, rtol=1e-12)
    at_one = _fit([0.0, 0.2], [0.01, 0.01], 0.01, "hksj_adhoc")
    np.testing.assert_allclose(at_one.se[0], 0.1, rtol=1e-14)
    np.testing.assert_allclose(at_one.pi_high[0], 0.1 + T1 * math.sqrt(0.02), rtol=1e-12)


def test_identical_studies_get_the_wald_se():
    """All residuals 0 (metafor: RSS <= eps -> s2w = 0 -> adhoc sets it to 1)."""
    res = _fit([0.3, 0.3, 0.3], [0.04, 0.02, 0.01], 0.0, "hksj_adhoc")
    np.testing.assert_allclose(res.se[0], math.sqrt(1 / (25 + 50 + 100)), rtol=1e-14)
    assert _fit([0.3, 0.3, 0.3], [0.04, 0.02, 0.01], 0.0, "hksj").se[0] == 0


effects = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)
log_variances = st.floats(-4.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def batches(draw):
    out = []
    for _ in range(draw(st.integers(1, 5))):
        k = draw(st.integers(1, 8))
        y = np.array(draw(st.lists(effects, min_size=k, max_size=k)))
        v = 10.0 ** np.array(draw(st.lists(log_variances, min_size=k, max_size=k)))
        out.append((y, v))
    return out


@SETTINGS
@given(batches(), st.floats(0.0, 2.0))
def test_never_narrower_than_hksj_and_equal_when_q_at_least_one(analyses, tau2):
    batch = StudyBatch.from_list(analyses)
    adhoc = random_effects_given_tau2(batch, tau2, "hksj_adhoc")
    plain = random_effects_given_tau2(batch, tau2, "hksj")
    wald = random_effects_given_tau2(batch, tau2, "wald")
    np.testing.assert_array_equal(adhoc.estimate, plain.estimate)
    np.testing.assert_array_equal(adhoc.df, plain.df)
    pooled = batch.study_counts() >= 2
    a, p, w = adhoc.se[pooled], plain.se[pooled], wald.se[pooled]
    np.testing.assert_allclose(a, np.maximum(p, w), rtol=1e-13)
    assert np.all(a >= p) and np.all(a >= w * (1 - 1e-13))
    width = (adhoc.ci_high - adhoc.ci_low)[pooled]
    assert np.all(width >= (plain.ci_high - plain.ci_low)[pooled])
    q_ge_1 = p >= w  # q = (HKSJ SE / Wald SE)^2
    np.testing.assert_array_equal(a[q_ge_1], p[q_ge_1])
    np.testing.assert_array_equal(adhoc.ci_low[pooled][q_ge_1], plain.ci_low[pooled][q_ge_1])
    np.testing.assert_array_equal(adhoc.pi_high[pooled][q_ge_1], plain.pi_high[pooled][q_ge_1])
    pa, pp = adhoc.pval[pooled], plain.pval[pooled]  # plain: NaN for 0/0 (all y = mu)
    assert np.all((pa >= pp * (1 - 1e-12)) | np.isnan(pp))
    # single-study analyses are reported as they are, whatever the CI method
    single = batch.study_counts() == 1
    np.testing.assert_array_equal(adhoc.ci_low[single], wald.ci_low[single])


def test_api_accepts_and_names_it():
    trials = pd.DataFrame(
        {
            "study_id": ["a", "b", "c"],
            "therapy": "drug",
            "comparator": "placebo",
            "condition": "c",
            "outcome": "o",
            "outcome_type": "binary",
            "events_treat": [10, 12, 9],
            "n_treat": [100, 110, 95],
            "events_ctrl": [11, 13, 10],
            "n_ctrl": [100, 105, 98],
        }
    )
    res = api.meta_analysis(trials, measure="RR", ci_method="hksj_adhoc")
    assert "CI: modified HKSJ (Knapp & Hartung 2003)" in res.summary()
    plain = api.meta_analysis(trials, measure="RR", ci_method="hksj")
    cols = ["ci_low", "ci_high"]
    (lo, hi), (plo, phi) = res.conf_int().iloc[0][cols], plain.conf_int().iloc[0][cols]
    assert lo <= plo and hi >= phi and hi - lo > phi - plo  # these trials agree: q < 1

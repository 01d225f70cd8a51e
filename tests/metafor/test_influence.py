"""Influence diagnostics vs metafor's influence.rma.uni (REML, tight control), 1e-8 relative.

Reference: tests/reference_extra/influence.json, written by
tests/reference_extra/generate_influence.R (R 4.2.2, metafor 3.8-1, run on this machine; the script
records versions and the exact call). yi/vi are stored in the JSON (escalc of the reference
trials.csv files), so this test does not need R.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from helpers.bias_reference_helpers import TIGHT, check
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.sensitivity import influence

REF = json.loads(
    (Path(__file__).resolve().parents[1] / "reference_extra" / "influence.json").read_text()
)
CASES = REF["cases"]


@pytest.mark.parametrize("c", CASES, ids=[f"{c['dataset']}-{c['measure']}" for c in CASES])
def test_influence_matches_metafor(c):
    y, v = np.array(c["yi"]), np.array(c["vi"])
    s = np.var(y, ddof=1)
    res = influence(StudyBatch.from_arrays(y[None], v[None]), "REML")
    for key, attr, sc in (
        ("rstudent", "rstudent", 1.0),
        ("dffits", "dffits", 1.0),
        ("cook.d", "cook_d", 1.0),
        ("cov.r", "cov_r", 1.0),
        ("tau2.del", "tau2_del", s),
        ("QE.del", "QE_del", 1.0),
        ("hat", "hat", 1.0),
        ("weight", "weight", 1.0),
        ("dfbetas", "dfbetas", 1.0),
    ):
        check(
            getattr(res, attr)[0],
            np.array(c[key], float),
            TIGHT,
            1e-6 * sc if key != "tau2.del" else sc,
            key,
        )
    assert list(res.influential[0]) == list(c["inf"])


def test_identities_and_flags():
    """hat sums to p = 1, weights to 100; a planted outlier is flagged."""
    rng = np.random.default_rng(7)
    v = rng.uniform(0.02, 0.1, 12)
    y = rng.normal(0, 0.1, 12)
    y[3] = 3.0
    res = influence(StudyBatch.from_arrays(y[None], v[None]))
    np.testing.assert_allclose(np.nansum(res.hat), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.nansum(res.weight), 100.0, rtol=1e-12)
    assert res.influential[0, 3] and res.rstudent[0, 3] > 3


def test_some_reference_case_flags_a_study():
    assert any(any(c["inf"]) for c in CASES)

"""The modified HKSJ CI (``hksj_adhoc``) through the real workflow, on a clone of the shipped run.

1. ``--config ci_methods='[hksj, hksj_adhoc, wald]'``: pooled.csv gains ``hksj_adhoc`` rows whose SE
   is ``max(HKSJ SE, Wald SE)`` (the scaling factor truncated below at 1) with HKSJ's df, so
   their CI contains the HKSJ CI; every other row is exactly the shipped run's; the primary result
   is still HKSJ; the report's methods text names the method.
2. ``ci_methods='[hksj_adhoc, wald]'``: the modified HKSJ is primary: primary rows, the
   leave-one-out and cumulative re-analyses (``sensitivity_ci_method: primary``) use it and every
   analysis page names it.
"""

import numpy as np
import pandas as pd
import pytest

from helpers.workflow_project import clone, run_workflow, shipped_run

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

KEY = ["analysis_id", "measure", "tau2_method"]


@pytest.fixture(scope="module")
def project():
    shipped = shipped_run()
    proj = clone(shipped, "adhoc")
    run_workflow(proj, "--config", "ci_methods=[hksj, hksj_adhoc, wald]")
    return shipped, proj


def _pooled(project_dir):
    return pd.read_csv(project_dir / "results" / "tables" / "pooled.csv")


def test_adhoc_rows_are_truncated_hksj(project):
    _, proj = project
    pooled = _pooled(proj)
    rnd = pooled[(pooled["model"] == "random") & (pooled["k"] >= 2)]
    by = {c: rnd[rnd["ci_method"] == c].set_index(KEY).sort_index() for c in ("hksj", "wald")}
    adhoc = rnd[rnd["ci_method"] == "hksj_adhoc"].set_index(KEY).sort_index()
    assert len(adhoc) > 0 and adhoc.index.equals(by["hksj"].index)
    h, w = by["hksj"], by["wald"].reindex(adhoc.index)
    np.testing.assert_allclose(adhoc["se"], np.maximum(h["se"], w["se"]), rtol=1e-12)
    np.testing.assert_array_equal(adhoc["df"], h["df"])
    np.testing.assert_array_equal(adhoc["estimate"], h["estimate"])
    assert (adhoc["ci_low"] <= h["ci_low"]).all() and (adhoc["ci_high"] >= h["ci_high"]).all()
    truncated = adhoc["se"] > h["se"]
    assert truncated.any() and (~truncated).any()  # the shipped data has both cases
    assert not pooled.loc[pooled["primary"], "ci_method"].eq("hksj_adhoc").any()


def test_other_rows_unchanged_and_report_names_it(project):
    shipped, proj = project
    pooled = _pooled(proj)
    others = pooled[pooled["ci_method"] != "hksj_adhoc"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, _pooled(shipped))
    html = (proj / "results" / "report" / "index.html").read_text(encoding="utf-8")
    assert "modified HKSJ (Knapp &amp; Hartung 2003" in html


def test_adhoc_as_primary(project):
    _, proj = project
    proj2 = clone(proj, "adhoc-primary")
    run_workflow(proj2, "--config", "ci_methods=[hksj_adhoc, wald]")
    results = proj2 / "results"
    pooled = _pooled(proj2)
    prim = pooled[pooled["primary"] & (pooled["model"] == "random")]
    assert len(prim) > 0 and prim["ci_method"].eq("hksj_adhoc").all()
    for name in ("leave_one_out", "cumulative"):
        table = pd.read_csv(results / "tables" / f"{name}.csv")
        assert len(table) > 0 and table["ci_method"].eq("hksj_adhoc").all(), name
    pages = sorted((results / "report" / "analyses").glob("*.html"))
    assert pages
    for page in pages:
        assert "modified HKSJ" in page.read_text(encoding="utf-8"), page.name

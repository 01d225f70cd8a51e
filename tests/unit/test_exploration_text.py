"""Plain-language sentences of the report's exploration sections."""

import numpy as np
import pandas as pd

from helpers.reference_data import load_reference
from trialmeta.report import text as tx
from trialmeta.tables import exploration as ex


def _bcg():
    t, ref = load_reference("dat.bcg")
    t = t.assign(source_file="b", source_row=np.arange(len(t)))
    e = ref["analyses"]["bcg_tb"]["results"]["RR"]["escalc"]
    eff = pd.DataFrame(
        {
            "analysis_id": "bcg_tb",
            "measure": "RR",
            "scale": "log",
            "study_id": e["study_id"],
            "yi": e["yi"],
            "vi": e["vi"],
            "source_file": "b",
            "source_row": t["source_row"],
        }
    )
    return eff, t


def test_sentences():
    eff, t = _bcg()
    s = tx.subgroup_sentence(ex.subgroups_table(eff, t, ["alloc"]), "RR", "log")
    assert s.startswith("alloc = alternate: RR 0.58 [0.34, 1.01] (k = 2); alloc = random: RR 0.38")
    assert "test for subgroup differences P = 0.39" in s and "few trials" in s
    mr = ex.metaregression_table(eff, t, ["ablat"])
    assert "each unit of ablat changes the log RR by -0.0291" in tx.metaregression_sentence(
        mr, "RR", "log"
    )
    c = tx.cumulative_sentence(ex.cumulative_table(eff, t), "RR", "log")
    assert c == (
        "Adding studies by year, the CI first excluded no effect after Ferguson & Simes 1949 and stayed "
        "so (final RR 0.49 [0.34, 0.70])."
    )
    ss = ex.small_study_table(eff).iloc[0]
    assert "imputes 1 study on the right" in tx.small_study_sentence(ss, "RR", "log")
    low = ex.small_study_table(eff.iloc[:6]).iloc[0]
    assert tx.small_study_sentence(low, "RR", "log").startswith(
        "Small-study tests not run: k = 6 < 10"
    )

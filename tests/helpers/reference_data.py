"""Access to the metafor reference set copied into tests/reference (provenance: its README.md,
generate.R and manifest.json, copied unchanged from ../shared/reference; metafor 3.8-1).

Tests import from here; nothing in the test suite reads ../shared.
"""

import json
import math
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "reference"

#: Tolerances stated in tests/reference/README.md ("Default vs tight").
CLOSED_FORM_RTOL = 1e-10
TIGHT_RTOL = 1e-8


def reference_datasets():
    """Names of the reference datasets (folders dat.* under tests/reference)."""
    return sorted(p.name for p in REFERENCE.glob("dat.*") if p.is_dir())


@cache
def _load(dataset):
    folder = REFERENCE / dataset
    trials = pd.read_csv(folder / "trials.csv", keep_default_na=False, na_values=[""])
    with open(folder / "metafor.json", encoding="utf-8") as fh:
        ref = json.load(fh)
    return trials, ref


def load_reference(dataset):
    """(trials DataFrame, metafor.json dict) of one reference dataset (a fresh copy of the table)."""
    trials, ref = _load(dataset)
    return trials.copy(), ref


def reference_cases():
    """(dataset, analysis_id, measure) for every analysis and measure in the reference set."""
    out = []
    for ds in reference_datasets():
        _, ref = _load(ds)
        for aid, a in ref["analyses"].items():
            for m in a["measures"]:
                out.append((ds, aid, m))
    return out


def analysis_rows(trials, analysis):
    """Rows of trials.csv belonging to one reference analysis (its `filter`), in file order."""
    sel = pd.Series(True, index=trials.index)
    for col, val in analysis["filter"].items():
        sel &= trials[col].astype(str) == str(val)
    return trials[sel].reset_index(drop=True)


#: The arm columns of a binary reference analysis.
ARM_COUNTS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")


def reference_effects(analysis, rows, analysis_id, shift=0.0):
    """trialmeta's effects rows of one reference analysis (``ref["analyses"][name]``): one per
    study and measure, ``yi`` (plus ``shift``) and ``vi`` from metafor's escalc, the source and
    arm columns from its trial ``rows`` (:func:`analysis_rows`, with ``source_file`` and
    ``source_row``)."""
    frames = []
    for m in analysis["measures"]:
        e = analysis["results"][m]["escalc"]
        frames.append(
            pd.DataFrame(
                {
                    "analysis_id": analysis_id,
                    "study_id": e["study_id"],
                    "measure": m,
                    "scale": analysis["results"][m]["scale"],
                    "yi": np.asarray(e["yi"], float) + shift if shift else e["yi"],
                    "vi": e["vi"],
                    **{c: rows[c].to_numpy() for c in ("source_file", "source_row", *ARM_COUNTS)},
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def case(dataset, analysis_id, measure):
    """(rows of the analysis, analysis dict, results[measure] dict)."""
    trials, ref = load_reference(dataset)
    a = ref["analyses"][analysis_id]
    return analysis_rows(trials, a), a, a["results"][measure]


def as_float(x):
    """metafor.json value -> float/array (null -> NaN, "Inf" -> inf)."""
    if isinstance(x, list):
        return np.array([as_float(v) for v in x], dtype=float)
    if x is None:
        return math.nan
    if x == "Inf":
        return math.inf
    if x == "-Inf":
        return -math.inf
    return float(x)


def assert_rel(actual, expected, rtol, label="", atol=0.0):
    """Assert |actual - expected| <= rtol * |expected| + atol elementwise (NaN must match NaN)."""
    a = np.atleast_1d(np.asarray(actual, dtype=float))
    e = np.atleast_1d(
        as_float(expected) if not isinstance(expected, np.ndarray) else expected
    ).astype(float)
    assert a.shape == e.shape, f"{label}: shape {a.shape} != expected {e.shape}"
    both_nan = np.isnan(a) & np.isnan(e)
    err = np.abs(a - e)
    ok = both_nan | (err <= rtol * np.abs(e) + atol) | (a == e)
    if not ok.all():
        i = int(np.argmin(ok))
        raise AssertionError(
            f"{label}: element {i}: got {a[i]!r}, metafor {e[i]!r}, "
            f"rel err {err[i] / max(abs(e[i]), 1e-300):.3g} > {rtol:g}"
        )

"""Shared helpers of the exploration reference tests (metareg, subgroups, leave1out, cumul, small-study).

Tolerance convention (tests/reference/README.md "Default vs tight"; same metric as
tests/reference/check_by_hand.py): iterative results are compared with the ``tight`` block as
``|got - ref| <= 1e-8 * max(|ref|, scale)``, where ``scale`` is ``var(yi)`` for tau2,
``sd(yi)`` for locations (estimates, SEs, CI bounds), 1 for statistics on a unit scale (z, Q, I2 in
percent, H2, R2 in percent) and 0 (purely relative) for p-values. The floor only matters where the
reference value is ~0 (tau2 on the boundary, metafor's Fisher scoring stopping at ~1e-12 * var(yi)
instead of exactly 0). Closed-form results (regtest_lm, ranktest) are compared at 1e-10 relative.
"""

import numpy as np

from helpers.reference_data import as_float, case, reference_cases
from trialmeta.stats.batch import StudyBatch

TIGHT = 1e-8
CLOSED = 1e-10


def load_case(ds, aid, m):
    rows, a, r = case(ds, aid, m)
    y = as_float(r["escalc"]["yi"])
    v = as_float(r["escalc"]["vi"])
    s = float(np.var(y, ddof=1))
    return rows, a, r, y, v, StudyBatch.from_arrays(y[None], v[None]), s


def check(got, ref, rtol, scale=0.0, label=""):
    g = np.atleast_1d(np.asarray(got, float))
    e = np.atleast_1d(as_float(ref) if not isinstance(ref, np.ndarray) else ref).astype(float)
    assert g.shape == e.shape, f"{label}: shape {g.shape} vs {e.shape}"
    both_nan = np.isnan(g) & np.isnan(e)
    tol = rtol * np.maximum(np.abs(e), scale)
    ok = both_nan | (np.abs(g - e) <= tol) | (g == e)
    if not ok.all():
        i = int(np.argmin(ok))
        raise AssertionError(
            f"{label}[{i}]: got {g[i]!r}, metafor {e[i]!r}, |diff| {abs(g[i] - e[i]):.3g} "
            f"> tol {tol[i]:.3g}"
        )


def cases_with(key, tight=True):
    out = []
    for ds, aid, m in reference_cases():
        _, _, r = case(ds, aid, m)
        block = r["tight"] if tight else r
        if key in block:
            out.append((ds, aid, m))
    return out

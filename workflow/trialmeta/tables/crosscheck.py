"""Double programming at run time: each analysis's primary random-effects result recomputed by two
independent engines, PyMARE and statsmodels, and compared with trialmeta's (``crosscheck.csv``).

What is compared (like with like: same data, same estimator, Wald-type standard errors):

* the analyses' primary measure, their studies with an effect (``studies.csv`` yi/vi), k >= 2;
* every tau2 method of the run that an engine implements: PyMARE ``DerSimonianLaird`` (DL) and
  ``VarianceBasedLikelihoodEstimator`` (REML, ML), each in ONE vectorised call per number of
  studies k (PyMARE takes rectangular (k, n_analyses) arrays; padding would change the data);
  statsmodels ``combine_effects`` (DL, PM) per analysis;
* trialmeta's numbers are its random-effects row of that tau2 method with ``ci_method`` wald (the
  engines report Wald standard errors, ``1 / sqrt(sum w)``); a run without wald rows gets the Wald
  SE from trialmeta's own :func:`~trialmeta.stats.pooling.random_effects_given_tau2` at its tau2.

Engine settings, so that the engines' numerical tolerances are far below the 1e-6 of the check:
PyMARE ``small_sample_correction="wald"`` (its default since 0.0.11 is Knapp-Hartung), its
likelihood search with ``xtol=1e-12, ftol=1e-15, maxiter=200``; statsmodels' Paule-Mandel with
``atol=1e-12`` on the estimating equation (default 1e-5), loosened step by step where rounding
stops it at 0 (:data:`STATSMODELS_PM_ATOL`). PyMARE's REML/ML tau2 is still only resolved to
about 1e-7 relative: the likelihood is flat to double precision that close to its maximum.

statsmodels' DL tau2 is ``(Q - (k-1)) / C``, not truncated at 0 (negative where Q < k - 1). The
documented estimator (DerSimonian & Laird 1986; metafor, trialmeta, PyMARE) is ``max(0, .)``: where
it is negative it is compared at tau2 = 0 with statsmodels' own fixed-effect estimate and SE
(random effects at tau2 = 0), and the notes say how often.

``max_rel_diff`` is the largest of the relative differences of estimate, se and tau2 (relative to
trialmeta's value; absolute where trialmeta's value is 0, e.g. tau2 at the boundary), ``agree`` is
``max_rel_diff <= 1e-6``. A disagreement with a known cause is explained (:func:`explain`), not
hidden: PyMARE's likelihood search can stop at a lower local maximum of a two-peak likelihood
that trialmeta avoids; that is verified (trialmeta's log-likelihood is higher) before it is said.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.pooling import random_effects_given_tau2

__all__ = [
    "COLUMNS",
    "ENGINE_METHODS",
    "RTOL",
    "crosscheck_table",
    "crosscheck_summary",
    "analysis_data",
    "explain",
    "log_likelihood",
    "crosscheck_notes",
    "engine_versions",
    "run_pymare",
    "run_statsmodels",
    "rel_diff",
    "EXPLANATIONS",
    "CAUSES",
]

#: The crosscheck.csv contract, in this order.
COLUMNS = (
    "analysis_id",
    "measure",
    "tau2_method",
    "engine",
    "estimate",
    "se",
    "tau2",
    "trialmeta_estimate",
    "trialmeta_se",
    "trialmeta_tau2",
    "max_rel_diff",
    "agree",
)
#: The tau2 methods each engine implements.
ENGINE_METHODS = {"pymare": ("DL", "REML", "ML"), "statsmodels": ("DL", "PM")}
#: Agreement tolerance (relative; absolute where trialmeta's value is 0).
RTOL = 1e-6
PYMARE_SEARCH = {"xtol": 1e-12, "ftol": 1e-15, "maxiter": 200}
#: statsmodels' Paule-Mandel stopping tolerances on |Q(tau2) - (k-1)|, tightest first: it returns
#: tau2 = 0 when rounding makes Q(tau2) - (k-1) slightly negative before it converged, then the
#: next looser one is used (Q(0) > k - 1 means the root is positive).
STATSMODELS_PM_ATOL = (1e-12, 1e-10, 1e-8, 1e-5)


def analysis_data(pooled: pd.DataFrame, studies: pd.DataFrame) -> dict:
    """``{analysis_id: (measure, yi, vi)}``: the primary measure of every analysis whose primary
    row pooled k >= 2 studies, with the yi/vi of its studies with an effect."""
    prim = pooled[["analysis_id", "measure", "k"]][pooled["primary"].astype(bool)]
    prim = prim[pd.to_numeric(prim["k"], errors="coerce").fillna(0) >= 2]
    measure_of = dict(zip(prim["analysis_id"].astype(str), prim["measure"].astype(str)))
    s = pd.DataFrame(  # the four columns used, not a copy of the whole table
        {
            "analysis_id": studies["analysis_id"].astype(str),
            "measure": studies["measure"].astype(str),
            "yi": pd.to_numeric(studies["yi"], errors="coerce"),
            "vi": pd.to_numeric(studies["vi"], errors="coerce"),
        }
    )
    s = s[s["analysis_id"].map(measure_of) == s["measure"]]
    s = s[np.isfinite(s["yi"]) & np.isfinite(s["vi"])]
    yi, vi = s["yi"].to_numpy(float), s["vi"].to_numpy(float)
    positions = s.groupby("analysis_id").indices  # analysis -> its rows, in table order
    return {
        aid: (measure_of[aid], yi[positions[aid]], vi[positions[aid]])
        for aid in sorted(positions)
        if len(positions[aid]) >= 2
    }


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _by_k(data: dict) -> dict:
    groups = {}
    for aid, (_m, y, _v) in data.items():
        groups.setdefault(len(y), []).append(aid)
    return groups


def _pymare_estimator(method: str):
    from pymare.estimators import DerSimonianLaird, VarianceBasedLikelihoodEstimator

    if method == "DL":
        return DerSimonianLaird(small_sample_correction="wald")
    return VarianceBasedLikelihoodEstimator(
        method=method, small_sample_correction="wald", **PYMARE_SEARCH
    )


def run_pymare(data: dict, method: str) -> dict:
    """``{analysis_id: (estimate, se, tau2)}`` from PyMARE: one vectorised fit per k."""
    out = {}
    for k, aids in _by_k(data).items():
        Y = np.column_stack([data[a][1] for a in aids])
        V = np.column_stack([data[a][2] for a in aids])
        est = _quiet(_pymare_estimator(method).fit, Y, V, np.ones((k, 1)))
        beta = np.asarray(est.params_["fe_params"], float).reshape(-1)
        tau2 = np.asarray(est.params_["tau2"], float).reshape(-1)
        cov = np.asarray(est.params_["inv_cov"], float).reshape(-1)
        for j, a in enumerate(aids):
            out[a] = (beta[j], float(np.sqrt(cov[j])), tau2[j])
    return out


def run_statsmodels(data: dict, method: str) -> tuple[dict, int]:
    """``({analysis_id: (estimate, se, tau2)}, n truncated)`` from statsmodels ``combine_effects``
    (DL: a negative tau2 compared at 0, i.e. statsmodels' fixed-effect estimate and SE)."""
    from statsmodels.stats.meta_analysis import combine_effects

    out, truncated = {}, 0
    for aid, (_m, y, v) in data.items():
        if method == "PM":
            for atol in STATSMODELS_PM_ATOL:
                res = _quiet(combine_effects, y, v, method_re="pm", atol=atol)
                if res.tau2 > 0 or res.q <= res.df:
                    break
        else:
            res = _quiet(combine_effects, y, v, method_re="dl")
        if res.tau2 < 0:
            truncated += 1
            out[aid] = (float(res.mean_effect_fe), float(res.sd_eff_w_fe), 0.0)
        else:
            out[aid] = (float(res.mean_effect_re), float(res.sd_eff_w_re), float(res.tau2))
    return out, truncated


#: The pooled.csv columns :func:`_random_rows` keeps.
TRIALMETA_COLUMNS = (
    "analysis_id",
    "measure",
    "model",
    "tau2_method",
    "ci_method",
    "estimate",
    "se",
    "tau2",
)


def _random_rows(pooled: pd.DataFrame, data: dict) -> pd.DataFrame:
    """trialmeta's random-effects rows (every tau2 method) of the analyses in ``data``, with
    their primary measure (columns :data:`TRIALMETA_COLUMNS`), selected once for all methods."""
    pooled = pooled[[c for c in TRIALMETA_COLUMNS if c in pooled.columns]]
    rows = pooled[
        (pooled["model"] == "random") & pooled["analysis_id"].astype(str).isin(list(data))
    ]
    return rows[
        rows["measure"].astype(str)
        == rows["analysis_id"].astype(str).map({a: d[0] for a, d in data.items()})
    ]


def _trialmeta_rows(random_rows: pd.DataFrame, data: dict, method: str) -> dict:
    """``{analysis_id: (estimate, Wald se, tau2)}`` of trialmeta's random-effects rows with this
    tau2 method (``random_rows``: :func:`_random_rows`)."""
    rows = random_rows[random_rows["tau2_method"] == method]
    wald = rows[rows["ci_method"] == "wald"]
    if len(wald):
        columns = (wald[c].to_numpy(float).tolist() for c in ("estimate", "se", "tau2"))
        return dict(zip(wald["analysis_id"].astype(str).tolist(), zip(*columns)))
    rows = rows.drop_duplicates("analysis_id")
    aids = rows["analysis_id"].astype(str).tolist()
    if not aids:
        return {}
    tau2 = rows["tau2"].to_numpy(float)
    batch = StudyBatch.from_list([(data[a][1], data[a][2]) for a in aids])
    se = np.asarray(random_effects_given_tau2(batch, tau2, "wald").se, float)
    est = rows["estimate"].to_numpy(float)
    return {a: (est[i], se[i], tau2[i]) for i, a in enumerate(aids)}


def rel_diff(engine, ours) -> np.ndarray:
    """|engine - ours| / |ours|, absolute where ours is 0 (NaN -> inf)."""
    engine, ours = np.asarray(engine, float), np.asarray(ours, float)
    d = np.abs(engine - ours)
    d = np.where(ours != 0, d / np.where(ours != 0, np.abs(ours), 1.0), d)
    return np.where(np.isnan(d), np.inf, d)


def crosscheck_table(pooled, studies, tau2_methods, *, rtol: float = RTOL):
    """``(crosscheck table, info)``: one row per analysis x checked tau2 method x engine (columns
    :data:`COLUMNS`, rows by analysis, the run's tau2 method order, engine); ``info`` holds the
    notes' facts (``statsmodels_dl_truncated``, ``explanations`` by row)."""
    data = analysis_data(pooled, studies)
    records, info = [], {"statsmodels_dl_truncated": 0, "explanations": {}}
    random_rows = _random_rows(pooled, data)
    for method in [m for m in tau2_methods if any(m in ms for ms in ENGINE_METHODS.values())]:
        ours = _trialmeta_rows(random_rows, data, method)
        for engine, methods in ENGINE_METHODS.items():
            if method not in methods or not data:
                continue
            if engine == "pymare":
                theirs = run_pymare(data, method)
            else:
                theirs, n = run_statsmodels(data, method)
                if method == "DL":
                    info["statsmodels_dl_truncated"] = n
            for aid in data:
                if aid in ours:
                    records.append((aid, data[aid][0], method, engine, *theirs[aid], *ours[aid]))
    table = pd.DataFrame.from_records(records, columns=list(COLUMNS[:10]))
    order = {m: i for i, m in enumerate(tau2_methods)}
    table = table.sort_values(
        ["analysis_id", "tau2_method", "engine"],
        key=lambda c: c.map(order) if c.name == "tau2_method" else c,
        kind="stable",
    ).reset_index(drop=True)
    diffs = [rel_diff(table[c], table[f"trialmeta_{c}"]) for c in ("estimate", "se", "tau2")]
    table["max_rel_diff"] = np.max(np.vstack(diffs), axis=0) if len(table) else []
    table["agree"] = (table["max_rel_diff"] <= rtol).astype(bool)
    for i in np.flatnonzero(~table["agree"].to_numpy(bool)):
        info["explanations"][int(i)] = explain(table.iloc[i], data)
    return table, info


#: The known causes of a difference, each explained once in the notes (report and console).
EXPLANATIONS = {
    "pymare_local_max": (
        "PyMARE's likelihood search (a coarse scan, then a bracketed refinement) can stop at a "
        "lower local maximum of a two-peak likelihood, which trialmeta avoids; where it differs "
        "for that reason, trialmeta's log-likelihood was checked to be the higher one"
    ),
    "pymare_precision": (
        "PyMARE resolves the REML/ML tau2 only to about 1e-7 to 1e-5 relative (its likelihood "
        "is flat to double precision near the maximum, whatever its tolerances); where it differs "
        "by more than 1e-6 for that reason, trialmeta's log-likelihood was checked to be at "
        "least as high"
    ),
}
#: How a flag names the cause.
CAUSES = {
    "pymare_local_max": "PyMARE stopped at a lower local maximum",
    "pymare_precision": "PyMARE's likelihood precision",
}


def explain(row, data: dict) -> str:
    """The known, verified cause of one engine's difference from trialmeta (a key of
    :data:`EXPLANATIONS`), or '' when there is none."""
    if row["engine"] == "pymare" and row["tau2_method"] in ("REML", "ML"):
        _m, y, v = data[row["analysis_id"]]
        restricted = row["tau2_method"] == "REML"
        ours = log_likelihood(y, v, float(row["trialmeta_tau2"]), restricted)
        theirs = log_likelihood(y, v, float(row["tau2"]), restricted)
        if ours > theirs + 1e-9 * max(1.0, abs(theirs)):
            return "pymare_local_max"
        if ours >= theirs - 1e-12 * max(1.0, abs(theirs)) and row["max_rel_diff"] < 1e-4:
            return "pymare_precision"
    return ""


def crosscheck_summary(table: pd.DataFrame, explanations: dict | None = None) -> dict:
    """Per-analysis verdicts: ``checked`` (analysis ids), ``n_analyses``, ``n_reproduced`` (every
    row agrees), ``n_explained`` (analyses whose every difference has a known cause),
    ``n_unexplained`` (rows without one), ``causes`` (the known causes seen) and ``flags``
    ``{analysis_id: [text, ...]}`` for every disagreeing row."""
    explanations = explanations or {}
    flags, unexplained, causes, bad = {}, 0, set(), set()
    for i in np.flatnonzero(~table["agree"].to_numpy(bool)):
        row = table.iloc[i]
        why = explanations.get(int(i), "")
        aid = str(row["analysis_id"])
        if why:
            causes.add(why)
        else:
            unexplained += 1
            bad.add(aid)
        flags.setdefault(aid, []).append(
            f"{row['engine']} {row['tau2_method']}: max relative difference "
            f"{row['max_rel_diff']:.3g}; "
            + (f"expected ({CAUSES[why]}, see the notes)" if why else "not explained, check this")
        )
    aids = table["analysis_id"].astype(str)
    return {
        "checked": sorted(aids.unique().tolist()),
        "n_analyses": int(aids.nunique()),
        "n_reproduced": int(aids.nunique() - len(flags)),
        "n_explained": len(flags) - len(bad),
        "n_unexplained": int(unexplained),
        "causes": sorted(causes),
        "flags": flags,
    }


def log_likelihood(y, v, t, restricted: bool) -> float:
    """The (restricted) log-likelihood of the random-effects model at tau2 = ``t`` (profiled
    mean, additive constants dropped)."""
    w = 1.0 / (v + t)
    mu = np.sum(w * y) / np.sum(w)
    ll = -0.5 * (np.sum(np.log(v + t)) + np.sum(w * (y - mu) ** 2))
    return ll - 0.5 * np.log(np.sum(w)) if restricted else ll


def engine_versions() -> dict:
    """``{engine: version}`` of the installed engines."""
    from importlib.metadata import version

    return {e: version(e) for e in ENGINE_METHODS}


def crosscheck_notes(summary: dict, info: dict, versions: dict, methods) -> list[str]:
    """The explanation text (report and console), each thing said once: what was compared and
    how many analyses were reproduced, the correction applied to statsmodels' DL, the known
    causes of the differences seen (:data:`EXPLANATIONS`)."""
    checked = {e: [m for m in methods if m in ms] for e, ms in ENGINE_METHODS.items()}
    engines = "; ".join(
        f"{e} {versions.get(e, '?')}: {', '.join(ms)}" for e, ms in checked.items() if ms
    )
    headline = (
        f"independently reproduced: {summary['n_reproduced']} of {summary['n_analyses']} "
        f"analyses (primary measure, random effects, Wald SE; {engines}; agreement within "
        f"{RTOL:g} relative, absolute where trialmeta's value is 0)"
    )
    if summary.get("n_explained"):
        headline += f"; {summary['n_explained']} more differ only for a known reason (below)"
    notes = [headline]
    if info.get("statsmodels_dl_truncated"):
        notes.append(
            "statsmodels' DL tau2 is not truncated at 0: in "
            f"{info['statsmodels_dl_truncated']} analyses (Q < k - 1) it is negative and was "
            "compared at tau2 = 0 (statsmodels' fixed-effect estimate and SE), as DerSimonian & "
            "Laird, metafor and trialmeta truncate"
        )
    notes += [EXPLANATIONS[c] for c in summary.get("causes", [])]
    return notes

"""Table builders of the heterogeneity / bias / sensitivity analyses.

Each builder takes the effects table (one row per study x measure: ``analysis_id, study_id,
measure, scale, yi, vi, source_file, source_row, ...``) and, where moderators or ``year`` are
needed, the validated trials table (joined on ``source_file, source_row``), handles every
analysis x measure in one batched call, and returns a DataFrame whose columns are the
contract of ``results/tables/<name>.csv`` (see /work/notes/bias_api.md). Rows are sorted by
``analysis_id, measure`` and then by the table's own order; analyses where a method cannot run
get a ``status`` / ``reason`` instead of an exception.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.inputs.settings import Settings
from trialmeta.stats.batch import StudyBatch
from trialmeta.stats.metaregression import (
    design_matrix,
    estimate_tau2_mixed,
    level_label,
    meta_regression,
    sort_levels,
)
from trialmeta.stats.result import Status
from trialmeta.stats.sensitivity import (
    cumulative,
    estimator_disagreement,
    fit_random_effects,
    influence,
    leave_one_out,
)
from trialmeta.stats.small_study import (
    MIN_STUDIES,
    egger_test,
    rank_test,
    small_study_reason,
    trim_and_fill,
)
from trialmeta.stats.subgroups import subgroup_analysis
from trialmeta.tables.names import EXPLORATION_TABLES
from trialmeta.tables.ratio import scale_of_measures, with_exp, with_scale

__all__ = [
    "SUBGROUP_COLUMNS",
    "METAREG_COLUMNS",
    "LOO_COLUMNS",
    "INFLUENCE_COLUMNS",
    "CUMUL_COLUMNS",
    "SMALL_STUDY_COLUMNS",
    "SPARSE_COLUMNS",
    "subgroups_table",
    "metaregression_table",
    "leave_one_out_table",
    "influence_table",
    "cumulative_table",
    "small_study_table",
    "sparse_binary_table",
    "estimator_disagreement",
    "exploration_tables",
    "EXPLORATION_TABLES",
]

SUBGROUP_COLUMNS = [
    "analysis_id",
    "measure",
    "scale",
    "moderator",
    "level",
    "ci_method",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "tau2",
    "I2",
    "Q",
    "Q_pval",
    "Q_between",
    "Q_between_df",
    "Q_between_pval",
    "pval",
    "overall_k",
    "overall_estimate",
    "overall_se",
    "overall_ci_low",
    "overall_ci_high",
    "overall_pval",
    "overall_estimate_exp",
    "overall_ci_low_exp",
    "overall_ci_high_exp",
    "tau2_model",
    "status",
]
METAREG_COLUMNS = [
    "analysis_id",
    "measure",
    "scale",
    "moderator",
    "term",
    "coef",
    "se",
    "stat",
    "pval",
    "ci_low",
    "ci_high",
    "coef_exp",
    "ci_low_exp",
    "ci_high_exp",
    "QM",
    "QM_df",
    "QM_pval",
    "tau2",
    "R2",
    "k",
    "I2",
    "QE",
    "QE_pval",
    "test",
    "status",
]
LOO_COLUMNS = [
    "analysis_id",
    "measure",
    "scale",
    "ci_method",
    "omitted_study_id",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "tau2",
    "I2",
    "Q",
    "pval",
    "Q_pval",
    "H2",
]
INFLUENCE_COLUMNS = [
    "analysis_id",
    "measure",
    "study_id",
    "rstudent",
    "dffits",
    "cook_d",
    "cov_r",
    "tau2_del",
    "QE_del",
    "hat",
    "weight",
    "dfbetas",
    "influential",
]
CUMUL_COLUMNS = [
    "analysis_id",
    "measure",
    "scale",
    "ci_method",
    "step",
    "added_study_id",
    "year",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "tau2",
    "I2",
    "pval",
    "Q",
]
SMALL_STUDY_COLUMNS = [
    "analysis_id",
    "measure",
    "scale",
    "egger_rma_z",
    "egger_rma_pval",
    "egger_lm_t",
    "egger_lm_df",
    "egger_lm_pval",
    "begg_tau",
    "begg_pval",
    "trimfill_k0",
    "trimfill_side",
    "trimfill_estimate",
    "trimfill_ci_low",
    "trimfill_ci_high",
    "trimfill_estimate_exp",
    "trimfill_ci_low_exp",
    "trimfill_ci_high_exp",
    "k",
    "reason",
]
#: small_study.csv column <- (test, field of that test's ``to_frame()``)
_SMALL_STUDY_SOURCES = {
    "egger_rma_z": ("egger_rma", "stat"),
    "egger_rma_pval": ("egger_rma", "pval"),
    "egger_lm_t": ("egger_lm", "stat"),
    "egger_lm_df": ("egger_lm", "df"),
    "egger_lm_pval": ("egger_lm", "pval"),
    "begg_tau": ("begg", "tau"),
    "begg_pval": ("begg", "pval"),
    "trimfill_k0": ("trimfill", "k0"),
    "trimfill_side": ("trimfill", "side"),
    "trimfill_estimate": ("trimfill", "estimate"),
    "trimfill_ci_low": ("trimfill", "ci_low"),
    "trimfill_ci_high": ("trimfill", "ci_high"),
}
SPARSE_COLUMNS = [
    "analysis_id",
    "method",
    "measure",
    "scale",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "pval",
    "direction",
    "significant",
    "disagree_direction",
    "disagree_significance",
]


# ----------------------------------------------------------------------------------------
class _Grouped:
    """Effects rows grouped per (analysis_id, measure) into one padded batch."""

    def __init__(self, effects: pd.DataFrame):
        eff = effects.reset_index(drop=True)
        ok = np.isfinite(eff["yi"].to_numpy(float)) & np.isfinite(eff["vi"].to_numpy(float))
        eff = eff[ok].reset_index(drop=True)
        keys = (eff["analysis_id"].astype(str) + "\x1f" + eff["measure"].astype(str)).tolist()
        # codes into the sorted distinct keys (factorize sorts them as sorted() does)
        codes, uniq = pd.factorize(np.array(keys, dtype=object), sort=True)
        self.eff = eff
        self.keys = pd.DataFrame(
            {
                "analysis_id": [u.split("\x1f")[0] for u in uniq],
                "measure": [u.split("\x1f")[1] for u in uniq],
            }
        )
        if len(eff):
            self.batch, self.position = StudyBatch.from_long(
                codes, eff["yi"].to_numpy(float), eff["vi"].to_numpy(float)
            )
        else:
            self.batch = StudyBatch(np.zeros((0, 0)), np.ones((0, 0)), np.zeros((0, 0), bool))
            self.position = np.zeros((0, 0), int)

    def column(self, name, fill=np.nan):
        """(K, n) array of an effects column (object for text)."""
        vals = self.eff[name].to_numpy()
        if vals.dtype.kind in "iu" and fill is not None:
            vals = vals.astype(float)
        dtype = vals.dtype if vals.dtype.kind in "fc" and fill is not None else object
        out = np.full(self.position.shape, fill, dtype=dtype)
        m = self.position >= 0
        out[m] = vals[self.position[m]]
        return out

    def subset(self, rows: np.ndarray) -> StudyBatch:
        b = self.batch
        return StudyBatch(b.yi[rows], b.vi[rows], b.mask[rows])

    def labelled(self, frame: pd.DataFrame, rows: np.ndarray, study_column=None) -> pd.DataFrame:
        """A statistics result's ``to_frame()`` over the sub-batch ``rows`` with ``analysis_id,
        measure`` first and, as ``study_column``, the study id of its ``study`` column index."""
        parent = rows[frame["analysis"].to_numpy()]
        frame.insert(0, "analysis_id", self.keys["analysis_id"].to_numpy()[parent])
        frame.insert(1, "measure", self.keys["measure"].to_numpy()[parent])
        if study_column:
            frame[study_column] = self.column("study_id", fill=None)[
                parent, frame["study"].to_numpy()
            ]
        return frame


def _join_trials(effects: pd.DataFrame, trials: pd.DataFrame, columns) -> pd.DataFrame:
    """Add trial columns to the effects rows (join on source_file, source_row). With
    ``trials=None`` the effects table's own columns are used (EFFECTS carries the trial columns)."""
    if trials is None:
        return effects.assign(**{c: np.nan for c in columns if c not in effects.columns})
    cols = [c for c in columns if c in trials.columns]
    if not cols:
        return effects.assign(**{c: np.nan for c in columns})
    right = trials[["source_file", "source_row"] + cols].drop_duplicates(
        ["source_file", "source_row"]
    )
    drop = [c for c in cols if c in effects.columns]
    out = effects.drop(columns=drop).merge(
        right, on=["source_file", "source_row"], how="left", sort=False
    )
    for c in columns:
        if c not in out:
            out[c] = np.nan
    return out


def _is_missing(v) -> bool:
    return (
        v is None
        or (isinstance(v, float) and np.isnan(v))
        or (isinstance(v, str) and v.strip() == "")
        or v is pd.NA
    )


def _missing(values: pd.Series) -> np.ndarray:
    """:func:`_is_missing` of every value (a float column: its NaNs; an integer or boolean one:
    none, without a Python call per value)."""
    kind = values.dtype.kind if isinstance(values.dtype, np.dtype) else None
    if kind == "f":
        return np.isnan(values.to_numpy())
    if kind in ("i", "u", "b"):
        return np.zeros(len(values), bool)
    return values.map(_is_missing).astype(bool).to_numpy()


def _empty(columns):
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


#: the estimate and its CI bounds, back-transformed (``<col>_exp``) on log-scale rows
_ESTIMATE_CI = ("estimate", "ci_low", "ci_high")


def _ratio_columns(df: pd.DataFrame, effects: pd.DataFrame, columns, order) -> pd.DataFrame:
    """``df`` with ``scale`` (of its measure in ``effects``) and ``<col>_exp`` of ``columns``
    (:mod:`trialmeta.tables.ratio`), in the table's column ``order``."""
    out = with_exp(with_scale(df, scale_of_measures(effects)), columns)
    return out[list(order)].reset_index(drop=True)


# ----------------------------------------------------------------------------------------
def leave_one_out_table(
    effects: pd.DataFrame,
    *,
    tau2_method: str = "REML",
    level: float = 0.95,
    ci_method: str = "wald",
) -> pd.DataFrame:
    """leave_one_out.csv: every analysis with k >= 2, re-pooled without each study in turn
    (``ci_method``: the config's ``sensitivity_ci_method``)."""
    g = _Grouped(effects)
    rows = np.nonzero(g.batch.k >= 2)[0] if g.batch.n_analyses else np.zeros(0, int)
    if rows.size == 0:
        return _empty(LOO_COLUMNS)
    res = leave_one_out(g.subset(rows), tau2_method, ci_method, level)
    df = g.labelled(res.to_frame(), rows, "omitted_study_id")
    return _ratio_columns(df, effects, _ESTIMATE_CI, LOO_COLUMNS)


def influence_table(effects: pd.DataFrame, *, tau2_method: str = "REML") -> pd.DataFrame:
    """influence.csv: metafor's influence diagnostics of the random-effects model (k >= 2)."""
    g = _Grouped(effects)
    rows = np.nonzero(g.batch.k >= 2)[0] if g.batch.n_analyses else np.zeros(0, int)
    if rows.size == 0:
        return _empty(INFLUENCE_COLUMNS)
    b = g.subset(rows)
    df = g.labelled(influence(b, tau2_method).to_frame(b.mask), rows, "study_id")
    return df[INFLUENCE_COLUMNS].reset_index(drop=True)


def cumulative_table(
    effects: pd.DataFrame,
    trials: pd.DataFrame,
    *,
    tau2_method: str = "REML",
    level: float = 0.95,
    ci_method: str = "wald",
) -> pd.DataFrame:
    """cumulative.csv: studies added by ascending year (ties: input row order); analyses where
    any study lacks a year are left out (no order to follow). ``ci_method``: the config's
    ``sensitivity_ci_method``."""
    eff = _join_trials(effects, trials, ["year"])
    eff["year"] = pd.to_numeric(eff["year"], errors="coerce")
    g = _Grouped(eff)
    if g.batch.n_analyses == 0:
        return _empty(CUMUL_COLUMNS)
    year = g.column("year").astype(float)
    complete = np.where(g.batch.mask, np.isfinite(year), True).all(1)
    rows = np.nonzero(complete & (g.batch.k >= 1))[0]
    if rows.size == 0:
        return _empty(CUMUL_COLUMNS)
    res = cumulative(g.subset(rows), year[rows], tau2_method, ci_method, level)
    df = g.labelled(res.to_frame(), rows, "added_study_id")
    df["year"] = year[rows[res.analysis], res.study]
    return _ratio_columns(df, effects, _ESTIMATE_CI, CUMUL_COLUMNS)


def small_study_table(
    effects: pd.DataFrame,
    *,
    min_k: int = MIN_STUDIES,
    level: float = 0.95,
    trimfill_method: str = "REML",
) -> pd.DataFrame:
    """small_study.csv: Egger (rma and lm), Begg, trim-and-fill (tau² estimator
    ``trimfill_method``, the config's ``trimfill_tau2_method``) where k >= min_k, else a reason;
    where they ran, ``reason`` names the tests that refused and why (their ``failed:`` status)."""
    g = _Grouped(effects)
    K = g.batch.n_analyses
    if K == 0:
        return _empty(SMALL_STUDY_COLUMNS)
    k = g.batch.k
    df = g.keys.copy()
    for c in _SMALL_STUDY_SOURCES:
        df[c] = np.nan
    df["trimfill_side"] = ""
    df["k"] = k
    df["reason"] = small_study_reason(k, min_k)
    rows = np.nonzero(k >= min_k)[0]
    if rows.size:
        b = g.subset(rows)
        egger_rma = egger_test(b, "rma", "REML", level=level)
        # trim-and-fill's side comes from the same REML regression on the SEs: fitted once
        slope = egger_rma.slope if trimfill_method == "REML" else None
        tests = {
            "egger_rma": egger_rma.to_frame(),
            "egger_lm": egger_test(b, "lm", level=level).to_frame(),
            "begg": rank_test(b).to_frame(),
            "trimfill": trim_and_fill(b, trimfill_method, level, sei_slope=slope).to_frame(),
        }
        for c, (test, name) in _SMALL_STUDY_SOURCES.items():
            col = df[c].to_numpy(object if c == "trimfill_side" else float).copy()
            col[rows] = tests[test][name].to_numpy()
            df[c] = col
        reason = df["reason"].to_numpy(object).copy()
        reason[rows] = _small_study_failures(tests)
        df["reason"] = reason
    df["egger_lm_df"] = df["egger_lm_df"].astype("Int64")
    df["trimfill_k0"] = df["trimfill_k0"].astype("Int64")
    df.loc[df["trimfill_estimate"].isna(), "trimfill_k0"] = pd.NA  # refused: no k0
    df["k"] = df["k"].astype(int)
    trimfill = ("trimfill_estimate", "trimfill_ci_low", "trimfill_ci_high")
    return _ratio_columns(df, effects, trimfill, SMALL_STUDY_COLUMNS)


#: small_study.csv ``reason`` names of the tests whose ``failed:...`` status is reported there
_SMALL_STUDY_TEST_NAMES = {
    "egger_rma": "Egger (random-effects form)",
    "egger_lm": "classical Egger",
    "begg": "Begg",
    "trimfill": "trim-and-fill",
}


def _small_study_failures(tests: dict) -> np.ndarray:
    """Per analysis where the tests ran: '' or why some gave no result, from their ``failed:``
    statuses, e.g. ``classical Egger: k = 2, no residual df; trim-and-fill: ...``."""
    n = len(next(iter(tests.values())))
    notes = [[] for _ in range(n)]
    for test, label in _SMALL_STUDY_TEST_NAMES.items():
        for i, st in enumerate(tests[test]["status"].astype(str)):
            if st.startswith(Status.FAILED + ":"):
                notes[i].append(f"{label}: {st.split(':', 1)[1]}")
    return np.array(["; ".join(x) for x in notes], dtype=object)


def _moderator_kind(trials: pd.DataFrame, name: str, effects: pd.DataFrame | None = None) -> bool:
    """True when a moderator is categorical (text / boolean column), False when numeric."""
    src = trials if trials is not None else effects
    col = src[name] if src is not None and name in src else pd.Series(dtype=float)
    if pd.api.types.is_bool_dtype(col):
        return True
    if pd.api.types.is_numeric_dtype(col):
        return False
    vals = [v for v in col.tolist() if not _is_missing(v)]
    return not all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in vals
    )


def metaregression_table(
    effects: pd.DataFrame,
    trials: pd.DataFrame,
    moderators,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
) -> pd.DataFrame:
    """metaregression.csv: one mixed-effects model ``~ moderator`` per analysis x measure x
    moderator (studies with a missing moderator value left out), one row per coefficient.
    Analyses where the model cannot be fitted (moderator constant, k <= p) get one row with
    ``term`` empty and the reason in ``status``."""
    out = []
    tau2_0_memo = {}  # R2's intercept-only tau2, shared by the moderators with the same studies
    for mod in moderators:
        eff = _join_trials(effects, trials, [mod])
        categorical = _moderator_kind(trials, mod, effects)
        keep = ~_missing(eff[mod])
        g = _Grouped(eff.loc[keep])
        if g.batch.n_analyses == 0:
            continue
        vals = g.column(mod, fill=None) if categorical else g.column(mod).astype(float)
        ids, measures = g.keys["analysis_id"].tolist(), g.keys["measure"].tolist()
        designs, names = [], []
        for i in range(g.batch.n_analyses):  # builds design matrices only (no statistics)
            ki = int(g.batch.k[i])
            X, nm = design_matrix(list(vals[i, :ki]), categorical=categorical, name=mod)
            designs.append(X)
            names.append(nm)
        p_of = np.array([X.shape[1] for X in designs])
        k = g.batch.k
        for p in np.unique(p_of):
            rows = np.nonzero(p_of == p)[0]
            n = g.batch.yi.shape[1]
            X = np.zeros((rows.size, n, p))
            for r, i in enumerate(rows):
                X[r, : designs[i].shape[0]] = designs[i]
            b = g.subset(rows)
            fit_rows = (k[rows] > p) & (p >= 2)
            tau2_0 = _intercept_only_tau2(tau2_0_memo, b, method) if p > 1 else None
            res = meta_regression(
                b.yi,
                b.vi,
                b.mask,
                X,
                method=method,
                test=test,
                level=level,
                tau2_intercept_only=tau2_0,
            )
            terms = res.to_frame([names[i] for i in rows]).drop(columns=["analysis", "k"])
            terms = _records(terms)  # p rows per analysis, analysis-major
            for r, i in enumerate(rows):
                base = dict(
                    analysis_id=ids[i],
                    measure=measures[i],
                    moderator=mod,
                    k=int(k[i]),
                    test=test,
                )
                if not fit_rows[r] or str(res.status[r]).startswith(Status.FAILED):
                    why = _unfitted_reason(str(res.status[r]), int(k[i]), int(p))
                    out.append(dict(base, term="", status=f"{Status.FAILED}:{why}"))
                    continue
                out.extend(dict(base, **t) for t in terms[r * p : (r + 1) * p])
    if not out:
        return _empty(METAREG_COLUMNS)
    df = pd.DataFrame(out).reindex(columns=METAREG_COLUMNS)
    order = {m: i for i, m in enumerate(moderators)}
    df["_m"] = df["moderator"].map(order)
    df["_t"] = df.groupby(["analysis_id", "measure", "moderator"]).cumcount()
    df = df.sort_values(["analysis_id", "measure", "_m", "_t"], kind="stable").drop(
        columns=["_m", "_t"]
    )
    return _ratio_columns(df, effects, ("coef", "ci_low", "ci_high"), METAREG_COLUMNS)


def _unfitted_reason(status: str, k: int, p: int) -> str:
    """Why a meta-regression has no coefficients: a constant moderator, too few studies for
    its coefficients, or the fitting failure's own message."""
    if p < 2 or "full rank" in status:
        return "moderator constant within the analysis"
    if k <= p:
        return f"k = {k} <= {p} coefficients"
    return status.split(":", 1)[-1]


def _records(df: pd.DataFrame) -> list[dict]:
    """``df.to_dict("records")`` of a frame of number and text columns, a column at a time
    (``tolist`` gives the same Python floats, ints and str as pandas' cell-by-cell boxing)."""
    names = list(df.columns)
    return [dict(zip(names, row)) for row in zip(*(df[c].tolist() for c in names))]


def _intercept_only_tau2(memo: dict, b: StudyBatch, method: str) -> np.ndarray:
    """tau2 of the model without moderators (the reference of R2) of each analysis of ``b``,
    fitted once per set of studies: ``memo`` maps an analysis's padded ``yi, vi, mask`` bytes to
    it (each analysis is fitted on its own, so the batch it was fitted in does not matter)."""
    keys = [(y.tobytes(), v.tobytes(), m.tobytes()) for y, v, m in zip(b.yi, b.vi, b.mask)]
    todo = [i for i, key in enumerate(keys) if key not in memo]
    if todo:
        ones = np.ones((len(todo), b.yi.shape[1], 1))
        fit0 = estimate_tau2_mixed(b.yi[todo], b.vi[todo], b.mask[todo], ones, method)
        memo.update(zip((keys[i] for i in todo), fit0.tau2.tolist()))
    return np.array([memo[key] for key in keys], dtype=float)


def _level_codes(g: _Grouped, values: list, mod: str):
    """Level code of every study of ``g`` (-1 padding) in the sorted level order of the
    moderator ``values``, the levels, and the analyses with at least two levels present."""
    raw = g.column(mod, fill=None)
    levels = sort_levels(values)
    index = {lab: i for i, lab in enumerate(levels)}
    codes = np.full(raw.shape, -1)
    m = g.batch.mask
    codes[m] = pd.Series(raw[m], dtype=object).map(lambda v: index[level_label(v)]).to_numpy(int)
    present = np.zeros((codes.shape[0], len(levels) + 1), bool)
    ai, sj = np.nonzero(m)
    present[ai, codes[ai, sj]] = True
    return codes, levels, np.nonzero(present.sum(1) >= 2)[0]


def _overall_columns(batch: StudyBatch, analysis, tau2_method, ci_method, level) -> dict:
    """``overall_*`` columns: random-effects pooling of all studies of each analysis of ``batch``
    (the primary tau2 estimator and CI method), repeated on the rows of ``analysis``."""
    fit = fit_random_effects(batch, tau2_method, ci_method, level)
    cols = {"overall_k": batch.k[analysis]}
    for name in ("estimate", "se", "ci_low", "ci_high", "pval"):
        cols[f"overall_{name}"] = np.asarray(getattr(fit, name), float)[analysis]
    return cols


def subgroups_table(
    effects: pd.DataFrame,
    trials: pd.DataFrame,
    moderators,
    *,
    tau2_method: str = "REML",
    common_tau2: bool = False,
    level: float = 0.95,
    ci_method: str = "wald",
) -> pd.DataFrame:
    """subgroups.csv: per categorical moderator, random-effects pooling within each level and the
    test for subgroup differences (see :mod:`trialmeta.stats.subgroups`), and on every row the
    overall pooled estimate of the studies with a value of the moderator (``overall_*``). CIs:
    ``ci_method`` (the workflow: the primary CI method), per row in column ``ci_method``. Analyses
    where the moderator has fewer than two levels (after leaving out missing values) are not
    listed."""
    frames = []
    for mod in moderators:
        eff = _join_trials(effects, trials, [mod])
        keep = ~_missing(eff[mod])
        g = _Grouped(eff.loc[keep])
        if g.batch.n_analyses == 0:
            continue
        codes, levels, rows = _level_codes(g, eff.loc[keep, mod].tolist(), mod)
        if rows.size == 0:
            continue
        b = g.subset(rows)
        res = subgroup_analysis(
            b, codes[rows], tau2_method, common_tau2=common_tau2, level=level, ci_method=ci_method
        )
        part = g.labelled(res.to_frame(), rows)
        part["moderator"] = mod
        part["level"] = np.array(levels, dtype=object)[res.level]
        part["tau2_model"] = "common" if common_tau2 else "separate"
        for name, col in _overall_columns(b, res.analysis, tau2_method, ci_method, level).items():
            part[name] = col
        frames.append(part)
    if not frames:
        return _empty(SUBGROUP_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    df.loc[df["k"] == 1, ["I2", "Q", "Q_pval"]] = [0.0, 0.0, 1.0]
    order = {m: i for i, m in enumerate(moderators)}
    df["_m"] = df["moderator"].map(order)
    df = df.sort_values(["analysis_id", "measure", "_m"], kind="stable").drop(columns="_m")
    df = with_exp(with_scale(df, scale_of_measures(effects)), _ESTIMATE_CI)
    overall = tuple(f"overall_{c}" for c in _ESTIMATE_CI)
    return _ratio_columns(df, effects, overall, SUBGROUP_COLUMNS)


# ----------------------------------------------------------------------------------------
def sparse_binary_table(effects: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """sparse_binary.csv: for binary analyses with a zero cell, side by side: Mantel-Haenszel OR
    without continuity correction, Peto OR, inverse-variance OR with the 0.5 correction
    (random effects, REML) and the risk difference (MH); flags when they disagree on the
    direction of the effect or on significance (CI excluding the null)."""
    from trialmeta.stats.sparse import sparse_panel

    panel = sparse_panel(effects, level=level).reindex(columns=SPARSE_COLUMNS)
    return with_exp(panel, _ESTIMATE_CI)[SPARSE_COLUMNS]


def exploration_tables(effects: pd.DataFrame, trials: pd.DataFrame, settings) -> dict:
    """All exploration tables, as the settings say (a :class:`~trialmeta.inputs.settings.Settings`
    or a config dict: subgroups, metaregression, the primary tau² estimator, level,
    small_study_min_k, subgroup_common_tau2, metaregression_test, metaregression_tau2_method,
    sensitivity_ci_method, trimfill_tau2_method). Subgroup CIs use the primary CI method."""
    s = Settings.coerce(settings)
    tau2, level, ci = s.primary_tau2_method, s.level, s.sensitivity_ci
    return {
        "subgroups": subgroups_table(
            effects,
            trials,
            list(s.subgroups),
            tau2_method=tau2,
            common_tau2=s.subgroup_common_tau2,
            level=level,
            ci_method=s.primary_ci_method,
        ),
        "metaregression": metaregression_table(
            effects,
            trials,
            list(s.metaregression),
            method=s.metaregression_estimator,
            test=s.metaregression_test,
            level=level,
        ),
        "leave_one_out": leave_one_out_table(effects, tau2_method=tau2, level=level, ci_method=ci),
        "influence": influence_table(effects, tau2_method=tau2),
        "cumulative": cumulative_table(
            effects, trials, tau2_method=tau2, level=level, ci_method=ci
        ),
        "small_study": small_study_table(
            effects, min_k=s.small_study_min_k, level=level, trimfill_method=s.trimfill_tau2_method
        ),
        "sparse_binary": sparse_binary_table(effects, level=level),
    }

"""Pool every analysis of a run: the effects table in, ``pooled.csv`` / ``studies.csv`` tables out.

:func:`pool_analyses` builds ONE :class:`~trialmeta.stats.batch.StudyBatch` per measure holding all the
analyses that use that measure, and calls the batched statistics once per measure x method:

* tau2 once per tau2 method (:func:`trialmeta.stats.tau2.estimate_tau2`), reused for every CI method;
* the Q-profile CI of tau2 (Viechtbauer 2007) once per measure (its search interval
  ``[0, max(100, 10 tau2)]`` uses the tau2 of the first tau2 method, like metafor's ``confint``
  of that fit);
* random effects (:func:`trialmeta.stats.pooling.random_effects_given_tau2`: Wald or
  Hartung-Knapp-Sidik-Jonkman CI, prediction interval), fixed effect (inverse variance);
* Mantel-Haenszel (OR, RR, RD; Robins, Breslow & Greenland 1986) and Peto (OR; Yusuf et al. 1985)
  from the arm counts, for analyses whose rows all carry 2x2 counts.

The result-table contract (``pooled.csv``): one row per analysis x measure x model x tau2_method x
ci_method; columns = the analysis key columns, then :data:`trialmeta.stats.result.POOLED_FIELDS`, then
:data:`EXP_COLUMNS` (back-transformed estimate/CI/PI for log-scale measures, empty otherwise), then
:data:`EXTRA_COLUMNS` (``iterations`` of the tau2 estimator, the Q-profile tau/H2 bounds, the
HKSJ prediction-interval df, the Mantel-Haenszel tests, ...), then ``primary`` (True for exactly one
row per analysis: primary measure, first tau2 method, first CI method, random effects). Rows are
sorted by analysis_id, measure (primary measure first), model, tau2 method, CI method (the orders
given in the arguments).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.inputs.errors import InputError, Problem
from trialmeta.stats.batch import StudyBatch, pad_by_group
from trialmeta.stats.heterogeneity import q_profile_ci
from trialmeta.stats.mantel_haenszel import mantel_haenszel
from trialmeta.stats.peto import peto
from trialmeta.stats.pooling import (
    CI_METHODS,
    PREDICTION_INTERVALS,
    fixed_effect,
    join_status,
    random_effects_given_tau2,
)
from trialmeta.stats.result import POOLED_FIELDS, PooledResult
from trialmeta.stats.tau2 import TAU2_METHODS, estimate_tau2
from trialmeta.tables.effects import ARM_DATA_COLUMNS
from trialmeta.tables.ratio import scale_of_measures, with_exp, with_scale

__all__ = ["pool_analyses", "EXP_COLUMNS", "EXTRA_COLUMNS", "STUDY_COLUMNS", "MODELS"]

MODELS = ("random", "fixed", "mh", "peto")
EXP_COLUMNS = ("estimate_exp", "ci_low_exp", "ci_high_exp", "pi_low_exp", "pi_high_exp")
#: Extra pooled.csv columns (after the back-transformed ones), in this order; ``primary`` is last.
EXTRA_COLUMNS = (
    "iterations",
    "vt",
    "tau_ci_low",
    "tau_ci_high",
    "H2_ci_low",
    "H2_ci_high",
    "pi_df",
    "k_yi",
    "k_pos",
    "CMH",
    "CMH_pval",
    "CO",
    "CO_pval",
    "BD",
    "BD_pval",
    "TA",
    "TA_pval",
)
#: studies.csv columns after the key columns (then the arm columns present in the effects table).
STUDY_COLUMNS = (
    "analysis_id",
    "study_id",
    "measure",
    "scale",
    "yi",
    "vi",
    "sei",
    "ci_low",
    "ci_high",
    "yi_exp",
    "ci_low_exp",
    "ci_high_exp",
    "continuity_corrected",
    "weight_fixed",
    "weight_random",
)
ARM_COLUMNS = (
    *ARM_DATA_COLUMNS,
    "hr_source",  # time-to-event rows: trialmeta.tables.time_to_event_effects
    "arm",  # multi-arm trials: trialmeta.inputs.multi_arm
    "multi_arm",
    "source_file",
    "source_row",
)
COUNT_COLUMNS = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
MH_MEASURES = ("OR", "RR", "RD")
PETO_MEASURES = ("OR",)
_INT_COLUMNS = ("k", "df", "Q_df", "iterations", "pi_df", "k_yi", "k_pos")


def _padded(codes, n_groups, *columns):
    """pad_by_group for exactly ``n_groups`` analyses (groups without rows get an empty row)."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size == 0:
        width = 1
        mask = np.zeros((n_groups, width), bool)
        pos = np.full((n_groups, width), -1)
        return (mask, pos, *[np.zeros((n_groups, width)) for _ in columns])
    mask, pos, *cols = pad_by_group(codes, *columns)
    missing = n_groups - mask.shape[0]
    if missing > 0:
        w = mask.shape[1]
        mask = np.vstack([mask, np.zeros((missing, w), bool)])
        pos = np.vstack([pos, np.full((missing, w), -1)])
        cols = [np.vstack([c, np.zeros((missing, w), c.dtype)]) for c in cols]
    return (mask, pos, *cols)


def _check_input(df: pd.DataFrame, key_cols) -> None:
    need = ["analysis_id", "study_id", "measure", "yi", "vi"]
    missing = [c for c in list(key_cols) + need if c not in df.columns]
    if missing:
        raise InputError(
            [Problem("effects table", None, c, "missing required column") for c in missing]
        )
    yi = pd.to_numeric(df["yi"], errors="coerce").to_numpy(float)
    vi = pd.to_numeric(df["vi"], errors="coerce").to_numpy(float)
    bad = np.isfinite(yi) & ~(vi > 0)
    if bad.any():
        problems = []
        files = df["source_file"].astype(str).to_numpy() if "source_file" in df else None
        rows = df["source_row"].to_numpy() if "source_row" in df else None
        for i in np.flatnonzero(bad):
            f = files[i] if files is not None else "effects table"
            r = int(rows[i]) if rows is not None and pd.notna(rows[i]) else None
            problems.append(
                Problem(
                    f,
                    r,
                    "vi",
                    f"sampling variance must be > 0 (study {df['study_id'].iloc[i]!s}, "
                    f"analysis {df['analysis_id'].iloc[i]!s}, measure {df['measure'].iloc[i]!s})",
                    value=str(vi[i]),
                )
            )
        raise InputError(problems)


def _measure_order(df: pd.DataFrame) -> list:
    """Measures ordered: primary measures first, then by first appearance in the effects table."""
    meas = df["measure"].astype(str)
    uniq = meas.drop_duplicates()
    first = dict(zip(uniq.tolist(), uniq.index.tolist()))
    if "primary_measure" in df:
        prim = set(meas[df["primary_measure"].fillna(False).astype(bool)].unique().tolist())
    else:
        prim = set()
    return sorted(first, key=lambda m: (m not in prim, first[m]))


def _block(res: PooledResult, aids, measure, scale) -> dict:
    """One PooledResult as a dict of equally long columns (analysis order = ``aids``)."""
    K = len(aids)
    cols = {
        "analysis_id": np.asarray(aids, dtype=object),
        "measure": np.full(K, measure, dtype=object),
        "scale": np.full(K, scale, dtype=object),
        "model": np.full(K, res.model, dtype=object),
        "tau2_method": np.full(K, res.tau2_method, dtype=object),
        "ci_method": np.full(K, res.ci_method, dtype=object),
    }
    for f in POOLED_FIELDS[6:]:
        cols[f] = np.asarray(res.column(f))
    for name, arr in res.extra.items():
        arr = np.asarray(arr)
        if arr.ndim == 1 and arr.shape[0] == K and name != "converged":
            cols[name] = arr
    return cols


def _stack_blocks(blocks, names) -> dict:
    """Concatenate block columns; a column missing from a block is NaN there."""
    out = {}
    for name in names:
        parts = []
        for b in blocks:
            n = len(b["analysis_id"])
            parts.append(b[name] if name in b else np.full(n, np.nan))
        kinds = {p.dtype.kind for p in parts}
        if kinds & {"O", "U", "S"}:
            parts = [p.astype(object) for p in parts]
        elif kinds <= {"b"}:
            pass
        else:
            parts = [p.astype(float) for p in parts]
        out[name] = np.concatenate(parts) if parts else np.array([], dtype=float)
    return out


def _check_options(models, ci_methods, tau2_methods, prediction_interval) -> None:
    bad = [m for m in models if m not in MODELS]
    if bad:
        raise ValueError(f"unknown model(s) {bad}; choose from {MODELS}")
    bad = [c for c in ci_methods if c not in CI_METHODS]
    if bad:
        raise ValueError(f"unknown ci_method(s) {bad}; choose from {CI_METHODS}")
    if prediction_interval not in PREDICTION_INTERVALS:
        raise ValueError(f"prediction_interval must be one of {PREDICTION_INTERVALS}")
    if "random" in models and not tau2_methods:
        raise ValueError("random-effects pooling needs at least one tau2 method")
    if "random" in models:
        bad = [m for m in tau2_methods if m not in TAU2_METHODS]
        if bad:
            raise ValueError(f"unknown tau2 method(s) {bad}; choose from {TAU2_METHODS}")


def _primary_measures(df: pd.DataFrame, m_rank: dict) -> pd.Series:
    """Primary measure of each analysis (index analysis_id): flagged in the table
    (``primary_measure``), else the first measure in :func:`_measure_order`."""
    if "primary_measure" in df:
        flagged = df[df["primary_measure"].fillna(False).astype(bool)]
        prim_measure = flagged.drop_duplicates("analysis_id").set_index("analysis_id")["measure"]
    else:
        prim_measure = pd.Series(dtype=object)
    ranks = df["measure"].map(m_rank)
    first_measure = (
        df.assign(_r=ranks)
        .sort_values("_r", kind="stable")
        .drop_duplicates("analysis_id")
        .set_index("analysis_id")["measure"]
    )
    return first_measure.where(
        ~first_measure.index.isin(prim_measure.index), prim_measure.reindex(first_measure.index)
    )


class _MeasureBatch:
    """The rows of one measure: the analyses (``aids``, sorted), each row's analysis code, the
    :class:`~trialmeta.stats.batch.StudyBatch` of the rows with an effect, the row of ``df`` of
    every padded slot (``slot_rows``, -1 for padding) and the ``studies_without_effect:N`` notes."""

    def __init__(self, df, rows, yi_all, vi_all, usable_all):
        sub = df.iloc[rows]
        codes, aids = pd.factorize(sub["analysis_id"].to_numpy(dtype=object), sort=True)
        self.rows, self.sub, self.codes = rows, sub, codes
        self.aids = np.asarray(aids, dtype=object)
        K = self.aids.size
        usable = usable_all[rows]
        self.scale = sub["scale"].astype(str).iloc[0] if "scale" in sub else "raw"
        mask, pos, y, v = _padded(codes[usable], K, yi_all[rows][usable], vi_all[rows][usable])
        self.mask = mask
        self.batch = StudyBatch(np.where(mask, y, 0.0), np.where(mask, v, 1.0), mask)
        self.slot_rows = np.where(pos >= 0, rows[np.flatnonzero(usable)][np.maximum(pos, 0)], -1)
        n_missing = np.bincount(codes[~usable], minlength=K)
        self.missing_note = np.where(
            n_missing > 0,
            np.char.add("studies_without_effect:", n_missing.astype(str)).astype(object),
            "",
        )


def _inverse_variance_models(
    mb: _MeasureBatch, n_rows, models, tau2_methods, ci_methods, prediction_interval, level
):
    """Random-effects results (tau2 once per tau2 method, reused for every CI method; the
    Q-profile CI of tau2 once, searched up to ``max(100, 10 tau2)`` of the first tau2 method) and
    the fixed-effect result. Returns ``(results, weight_fixed, weight_random)``, the weights per
    row of the effects table (random: of the first tau2 method)."""
    results = []
    w_fixed = np.full(n_rows, np.nan)
    w_random = np.full(n_rows, np.nan)
    filled = mb.slot_rows[mb.mask]
    if "random" in models:
        qp = None
        for ti, tm in enumerate(tau2_methods):
            est = estimate_tau2(mb.batch, tm)
            if qp is None:
                qp = q_profile_ci(mb.batch, level, tau2=est.tau2)
            for cm in ci_methods:
                results.append(
                    random_effects_given_tau2(
                        mb.batch,
                        est.tau2,
                        cm,
                        prediction_interval,
                        level,
                        tau2_method=tm,
                        status=est.status,
                        qp_ci=qp,
                        extra={"iterations": np.asarray(est.iterations)},
                    )
                )
            if ti == 0:
                w_random[filled] = results[-1].weights[mb.mask]
    if "fixed" in models:
        fe = fixed_effect(mb.batch, level)
        results.append(fe)
        w_fixed[filled] = fe.weights[mb.mask]
    return results, w_fixed, w_random


def _count_models(mb: _MeasureBatch, measure, models, level) -> list:
    """Mantel-Haenszel (OR, RR, RD) and Peto (OR) blocks from the arm counts, for the analyses
    whose rows all carry the four counts."""
    want = [
        mdl
        for mdl in ("mh", "peto")
        if mdl in models and measure in (MH_MEASURES if mdl == "mh" else PETO_MEASURES)
    ]
    if not want or not all(c in mb.sub for c in COUNT_COLUMNS):
        return []
    counts = mb.sub[list(COUNT_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    has = np.isfinite(counts).all(axis=1)
    complete = np.bincount(mb.codes[~has], minlength=mb.aids.size) == 0
    if not complete.any():
        return []
    sel_rows = complete[mb.codes]
    sel_aids = mb.aids[complete]
    new_code = np.cumsum(complete) - 1
    cm_, cpos, a, n1, c, n2 = _padded(
        new_code[mb.codes[sel_rows]], int(complete.sum()), *[counts[sel_rows, j] for j in range(4)]
    )
    blocks = []
    for mdl in want:
        if mdl == "mh":
            res = mantel_haenszel(a, n1, c, n2, cm_, measure, level=level)
        else:
            res = peto(a, n1, c, n2, cm_, level=level)
        blocks.append(_block(res, sel_aids, measure, mb.scale))
    return blocks


def _sorted_rows(frames, prim_measure, ranks, models, tau2_methods, ci_methods):
    """All blocks stacked into columns (the extra columns in first-seen order after
    :data:`EXTRA_COLUMNS`), rows in the contract order (analysis, measure with the primary first,
    model, tau2 method, CI method), and the ``primary`` flag. Returns
    ``(data, extra_seen, is_primary)``."""
    m_rank, model_rank, t_rank, c_rank = ranks
    extra_seen = []
    for b in frames:
        for name in b:
            if name not in POOLED_FIELDS and name not in EXTRA_COLUMNS and name not in extra_seen:
                extra_seen.append(name)
    data = _stack_blocks(frames, list(POOLED_FIELDS) + list(EXTRA_COLUMNS) + extra_seen)
    aid = data["analysis_id"]
    meas = data["measure"]
    prim_of_row = prim_measure.reindex(aid).to_numpy(dtype=object)

    def rank(values, ranks):
        return pd.Series(values, dtype=object).map(ranks).fillna(-1).to_numpy(float)

    m_key = np.where(meas == prim_of_row, -1.0, rank(meas, m_rank))
    mo_key = rank(data["model"], model_rank)
    t_key = rank(data["tau2_method"], t_rank)
    c_key = rank(data["ci_method"], c_rank)
    aid_code = pd.factorize(aid, sort=True)[0] if aid.size else np.array([], int)
    order = np.lexsort((c_key, t_key, mo_key, m_key, aid_code))
    data = {k: v[order] for k, v in data.items()}
    m_key = m_key[order]
    # primary row per analysis: primary measure, primary model, first methods
    primary_model = "random" if "random" in models else models[0]
    is_prim = (m_key == -1) & (data["model"] == primary_model)
    if primary_model == "random":
        is_prim &= (data["tau2_method"] == tau2_methods[0]) & (data["ci_method"] == ci_methods[0])
    return data, extra_seen, is_prim


def _pooled_table(data, extra_seen, is_prim, keys, key_cols) -> pd.DataFrame:
    """``pooled.csv``: key columns, POOLED_FIELDS, the back-transformed ratio columns of
    log-scale measures, EXTRA_COLUMNS and the other extras, ``primary``."""
    log = data["scale"] == "log"
    with np.errstate(over="ignore"):
        exp_cols = {
            dst: np.where(log, np.exp(data[src].astype(float)), np.nan)
            for src, dst in zip(("estimate", "ci_low", "ci_high", "pi_low", "pi_high"), EXP_COLUMNS)
        }
    key_rows = keys.reindex(data["analysis_id"]) if len(key_cols) else None
    columns_out = {}
    for c in key_cols:
        columns_out[c] = key_rows[c].to_numpy()
    for c in POOLED_FIELDS:
        columns_out[c] = data[c]
    columns_out.update(exp_cols)
    for c in list(EXTRA_COLUMNS) + extra_seen:
        columns_out[c] = data[c]
    columns_out["primary"] = is_prim.astype(bool)
    pooled = pd.DataFrame(columns_out)
    for c in _INT_COLUMNS:
        if c in pooled:
            pooled[c] = _to_int(pooled[c])
    for c in ("tau2_method", "ci_method", "status"):
        pooled[c] = pooled[c].astype(object)
    return pooled


def _studies_table(df, study_parts, m_rank, prim_measure, key_cols) -> pd.DataFrame:
    """``studies.csv``: the effects rows with their fixed and random weights, ``scale`` and the
    back-transformed ``yi_exp, ci_low_exp, ci_high_exp`` (log-scale rows), sorted by analysis,
    measure (primary first) and input order."""
    sp = pd.concat(study_parts, ignore_index=True).set_index("_row").sort_index()
    studies = df.copy()
    studies["weight_fixed"] = sp["weight_fixed"]
    studies["weight_random"] = sp["weight_random"]
    for c in ("sei", "ci_low", "ci_high", "continuity_corrected"):
        if c not in studies:
            studies[c] = np.nan
    studies["_m"] = studies["measure"].map(m_rank)
    studies.loc[studies["measure"] == studies["analysis_id"].map(prim_measure), "_m"] = -1
    studies["_i"] = np.arange(len(studies))
    studies = studies.sort_values(["analysis_id", "_m", "_i"], kind="stable")
    arm = [c for c in ARM_COLUMNS if c in studies]
    studies = with_exp(with_scale(studies, scale_of_measures(studies)), ("yi", "ci_low", "ci_high"))
    return studies[key_cols + list(STUDY_COLUMNS) + arm].reset_index(drop=True)


def pool_analyses(
    effects_df: pd.DataFrame,
    key_cols,
    *,
    tau2_methods=("REML", "DL"),
    ci_methods=("hksj", "wald"),
    prediction_interval="metafor",
    level=0.95,
    models=MODELS,
):
    """Pool all analyses of an effects table; returns ``(pooled_df, studies_df)``.

    Parameters
    ----------
    effects_df : DataFrame
        One row per study x measure (see docs: the effects table): key columns, ``analysis_id,
        study_id, measure, scale, yi, vi, sei, ci_low, ci_high, continuity_corrected``, the arm
        counts ``events_treat, n_treat, events_ctrl, n_ctrl`` (binary rows), ``primary_measure``.
        Rows with a missing yi/vi (e.g. dropped double-zero studies) are listed in studies_df but
        not pooled (status note ``studies_without_effect:N``). ``vi <= 0`` is an input error.
    key_cols : sequence of str
        The analysis key (``group_by``) columns, written first in both tables.
    tau2_methods, ci_methods, prediction_interval, level, models
        See :func:`trialmeta.stats.pooling.random_effects`. ``models`` is a subset of
        ``("random", "fixed", "mh", "peto")``; MH rows exist for OR/RR/RD and Peto rows for OR,
        for analyses whose rows all carry 2x2 counts.
    """
    key_cols = [c for c in key_cols if c != "analysis_id"]
    tau2_methods, ci_methods, models = tuple(tau2_methods), tuple(ci_methods), tuple(models)
    _check_options(models, ci_methods, tau2_methods, prediction_interval)
    df = effects_df.reset_index(drop=True)
    _check_input(df, key_cols)
    df["analysis_id"] = df["analysis_id"].astype(str)
    df["measure"] = df["measure"].astype(str)
    measure_all = df["measure"].to_numpy(dtype=object)
    yi_all = pd.to_numeric(df["yi"], errors="coerce").to_numpy(float)
    vi_all = pd.to_numeric(df["vi"], errors="coerce").to_numpy(float)
    usable_all = np.isfinite(yi_all) & np.isfinite(vi_all)
    measures = _measure_order(df)
    ranks = tuple(
        {m: i for i, m in enumerate(order)}
        for order in (measures, models, tau2_methods, ci_methods)
    )
    keys = df.drop_duplicates("analysis_id").set_index("analysis_id")[key_cols]
    prim_measure = _primary_measures(df, ranks[0])
    frames = []
    study_parts = []
    for measure in measures:
        mb = _MeasureBatch(df, np.flatnonzero(measure_all == measure), yi_all, vi_all, usable_all)
        results, w_fixed, w_random = _inverse_variance_models(
            mb, len(df), models, tau2_methods, ci_methods, prediction_interval, level
        )
        for res in results:
            res.status = join_status(res.status, mb.missing_note)
            frames.append(_block(res, mb.aids, measure, mb.scale))
        frames.extend(_count_models(mb, measure, models, level))
        study_parts.append(
            pd.DataFrame(
                {
                    "_row": mb.rows,
                    "weight_fixed": w_fixed[mb.rows],
                    "weight_random": w_random[mb.rows],
                }
            )
        )
    data, extra_seen, is_prim = _sorted_rows(
        frames, prim_measure, ranks, models, tau2_methods, ci_methods
    )
    pooled = _pooled_table(data, extra_seen, is_prim, keys, key_cols)
    return pooled, _studies_table(df, study_parts, ranks[0], prim_measure, key_cols)


def _to_int(s: pd.Series) -> pd.Series:
    v = pd.to_numeric(s, errors="coerce").astype(float)
    x = v.to_numpy()
    fin = np.isfinite(x)
    if np.all(np.mod(x[fin], 1.0) == 0) and not np.isinf(x).any():
        return v.astype("Int64")
    return v

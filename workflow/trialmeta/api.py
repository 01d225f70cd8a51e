"""The public Python API: one call from a trials table to pooled estimates.

:func:`meta_analysis` runs the same steps as the workflow (validate the table, group its rows into
analyses, compute the effect sizes, pool) with the same code, so its numbers are those of
``results/tables/pooled.csv`` for the same settings. It returns a :class:`MetaAnalysisResult`
(one analysis or many) with ``to_frame()``, ``summary()``, ``conf_int(level)`` and the
exploration analyses (leave-one-out, influence, cumulative, subgroups, meta-regression,
small-study effects), each returning an :class:`ExplorationResult` with ``to_frame()``.

Example::

    import pandas as pd
    import trialmeta

    trials = pd.read_csv("data/trials/immunotherapy_trials.csv")
    res = trialmeta.meta_analysis(trials, measure="RR",
                                  group_by=["therapy_class", "comparator", "condition",
                                            "outcome", "outcome_type"])
    print(res[0].summary())
    res.to_frame()
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.multi_arm import resolve_multi_arm
from trialmeta.inputs.validate import validate_trials
from trialmeta.stats.effect_sizes import BINARY_MEASURES, CONTINUOUS_MEASURES
from trialmeta.stats.pooling import CI_METHODS, PREDICTION_INTERVALS
from trialmeta.stats.small_study import MIN_STUDIES
from trialmeta.stats.tau2 import TAU2_METHODS
from trialmeta.tables import exploration as tables
from trialmeta.tables.effects import compute_effect_sizes
from trialmeta.tables.pooled import MODELS, pool_analyses

__all__ = ["meta_analysis", "MetaAnalysisResult", "ExplorationResult"]

#: measure of the outcome type that ``measure`` does not name (the workflow's primary measures)
DEFAULT_MEASURES = {"binary": "RR", "continuous": "MD"}
#: tau2 estimators of the meta-regression (others fall back to REML, as the workflow)
METAREGRESSION_METHODS = ("REML", "ML", "DL")
_MODEL_NAMES = {
    "random": "Random-effects model",
    "fixed": "Fixed-effect (inverse-variance) model",
    "mh": "Mantel-Haenszel model",
    "peto": "Peto model",
}
_CI_NAMES = {
    "hksj": "Hartung-Knapp-Sidik-Jonkman",
    "hksj_adhoc": "modified HKSJ (Knapp & Hartung 2003)",
    "wald": "Wald (normal)",
}


# ----------------------------------------------------------------------------- the entry point
def _validated(trials_df, group_by, min_studies):
    """The typed trials with analysis ids (multi-arm trials split, as the workflow's default
    ``multi_arm: split``) and the warnings."""
    trials, warnings = validate_trials(trials_df, group_by, min_studies=min_studies)
    trials, notes = resolve_multi_arm(trials, group_by, "split")  # trialmeta.inputs.multi_arm
    return assign_analysis_ids(trials, group_by), list(warnings) + notes


def meta_analysis(
    trials_df: pd.DataFrame,
    measure="RR",
    tau2_method: str = "REML",
    ci_method: str = "hksj",
    group_by=None,
    level: float = 0.95,
    prediction_interval: str = "metafor",
    continuity=None,
    model: str = "random",
    min_studies: int = 1,
) -> MetaAnalysisResult:
    """Pool the trials of one analysis, or of each analysis defined by ``group_by``.

    Parameters
    ----------
    trials_df : DataFrame
        One row per trial comparison in the columns of the data dictionary (``data/README.md``):
        ``study_id, outcome_type`` and, for binary rows ``events_treat, n_treat, events_ctrl,
        n_ctrl``, for continuous rows ``mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl,
        n_ctrl``, for generic rows ``measure`` with ``yi, sei`` or ``estimate, ci_low, ci_high``.
        Cells may be text (as read by :func:`trialmeta.load_trials`) or numbers (``pd.read_csv``).
    measure : str or dict
        Effect measure: ``RR``, ``OR``, ``RD`` (binary) or ``MD``, ``SMD`` (continuous); the other
        outcome type keeps its default (RR, MD). A dict such as ``{"binary": "OR",
        "continuous": "SMD"}`` sets both. Generic rows carry their own measure.
    tau2_method : str
        Between-study variance estimator (metafor names: REML, DL, PM, ML, EB, SJ, HE, HS). The
        Q-profile CI of tau2 is searched up to ``max(100, 10 tau2)`` of this estimator (the
        workflow: of its first estimator), which matters only when a bound lies beyond that.
    ci_method : str
        ``hksj`` (Hartung-Knapp-Sidik-Jonkman, t with k-1 df), ``wald`` (normal) or ``hksj_adhoc``
        (modified HKSJ, Knapp & Hartung 2003: scaling factor truncated below at 1; metafor "adhoc").
    group_by : list of str, optional
        Columns whose unique combinations define one analysis; None pools all rows as one.
    level : float
        Confidence level of every interval (per-study CIs, CI, prediction interval, tau2 CI).
    prediction_interval : str
        ``metafor`` (metafor's predict.rma), ``higgins`` (t with k-2 df) or ``none``.
    continuity : dict, optional
        Zero-cell correction as metafor's escalc, ``{"add": 0.5, "to": "only0", "drop00": False}``.
    model : str
        ``random`` (default), ``fixed`` (inverse variance), ``mh`` (Mantel-Haenszel: OR, RR, RD)
        or ``peto`` (OR).
    min_studies : int
        Analyses with fewer trials are kept but named in :attr:`MetaAnalysisResult.warnings`.

    Returns
    -------
    MetaAnalysisResult

    Raises
    ------
    trialmeta.inputs.errors.InputError
        Every problem of the table at once (file, row, column, value and rule), as the workflow.
    ValueError
        An unknown measure, estimator, CI method, model or a level outside (0, 1).
    """
    if not isinstance(trials_df, pd.DataFrame):
        raise TypeError(f"trials_df must be a pandas DataFrame, not {type(trials_df).__name__}")
    measures = _measures(measure)
    _check_settings(tau2_method, ci_method, level, prediction_interval, model)
    group_by = _group_columns(group_by)
    trials, warnings = _validated(trials_df, group_by, min_studies)
    effects = compute_effect_sizes(
        trials, measures={k: [v] for k, v in measures.items()}, continuity=continuity, level=level
    )
    settings = {
        "measure": measures,
        "model": model,
        "tau2_method": tau2_method,
        "ci_method": ci_method,
        "level": float(level),
        "prediction_interval": prediction_interval,
        "group_by": group_by,
        "continuity": continuity,
    }
    pooled, studies = _pool(effects, settings, level)
    return MetaAnalysisResult(pooled, studies, effects, trials, settings, warnings)


def _group_columns(group_by) -> list:
    """``group_by`` as a list of column names (None: one analysis of all rows)."""
    if group_by is None:
        return []
    return [group_by] if isinstance(group_by, str) else list(group_by)


def _measures(measure) -> dict:
    out = dict(DEFAULT_MEASURES)
    if isinstance(measure, Mapping):
        unknown = set(measure) - set(out)
        if unknown:
            raise ValueError(
                f"measure keys must be 'binary' and/or 'continuous', not {sorted(unknown)}"
            )
        out.update(measure)
    elif measure in BINARY_MEASURES:
        out["binary"] = measure
    elif measure in CONTINUOUS_MEASURES:
        out["continuous"] = measure
    else:
        raise ValueError(
            f"unknown measure {measure!r}; choose from {BINARY_MEASURES + CONTINUOUS_MEASURES}"
        )
    if out["binary"] not in BINARY_MEASURES or out["continuous"] not in CONTINUOUS_MEASURES:
        raise ValueError(
            f"binary measure must be one of {BINARY_MEASURES}, continuous one of "
            f"{CONTINUOUS_MEASURES}; got {out}"
        )
    return out


def _check_settings(tau2_method, ci_method, level, prediction_interval, model) -> None:
    if tau2_method not in TAU2_METHODS:
        raise ValueError(f"unknown tau2_method {tau2_method!r}; choose from {TAU2_METHODS}")
    if ci_method not in CI_METHODS:
        raise ValueError(f"unknown ci_method {ci_method!r}; choose from {CI_METHODS}")
    if prediction_interval not in PREDICTION_INTERVALS:
        raise ValueError(f"prediction_interval must be one of {PREDICTION_INTERVALS}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {MODELS}")
    if not (isinstance(level, (int, float)) and 0.0 < float(level) < 1.0):
        raise ValueError(f"level must be a number strictly between 0 and 1, not {level!r}")


def _pool(effects: pd.DataFrame, settings: dict, level: float):
    """pooled and studies tables of one model (the workflow's :func:`pool_analyses`)."""
    pooled, studies = pool_analyses(
        effects,
        settings["group_by"],
        tau2_methods=(settings["tau2_method"],),
        ci_methods=(settings["ci_method"],),
        prediction_interval=settings["prediction_interval"],
        level=level,
        models=(settings["model"],),
    )
    return pooled.drop(columns="primary").reset_index(drop=True), studies


# ----------------------------------------------------------------------------- results
class ExplorationResult:
    """An exploration table (leave-one-out, influence, cumulative, subgroups, meta-regression,
    small-study effects): the columns of the workflow's ``results/tables/<name>.csv``."""

    def __init__(self, name: str, frame: pd.DataFrame):
        self.name = name
        self._frame = frame

    def to_frame(self) -> pd.DataFrame:
        """The table as a new DataFrame (one row per analysis x study, level, term, ...)."""
        return self._frame.copy()

    def __len__(self) -> int:
        return len(self._frame)

    def __repr__(self) -> str:
        n = self._frame["analysis_id"].nunique() if "analysis_id" in self._frame else 0
        return f"<ExplorationResult {self.name}: {len(self._frame)} rows, {n} analyses>"


class MetaAnalysisResult:
    """Pooled estimates of one analysis or of many (one row each in :meth:`to_frame`).

    Index it by position or ``analysis_id`` for one analysis (``res[0]``,
    ``res["il-6-receptor-...-0a6dfb66a8fa"]``). Attributes: ``settings`` (the arguments of
    :func:`meta_analysis`), ``warnings`` (validation warnings, :class:`Problem` objects),
    ``effects`` (the effects table, one row per study) and ``trials`` (the validated table).
    """

    def __init__(self, pooled, studies, effects, trials, settings, warnings=()):
        self._pooled = pooled
        self._studies = studies
        self.effects = effects
        self.trials = trials
        self.settings = settings
        self.warnings = list(warnings)

    # --------------------------------------------------------------- tables
    def to_frame(self) -> pd.DataFrame:
        """One row per analysis: the group_by columns, then the ``pooled.csv`` columns
        (``analysis_id, measure, scale, model, ..., estimate, se, ci_low, ci_high, pi_low,
        pi_high, tau2, tau2_ci_low, tau2_ci_high, tau, I2, H2, Q, Q_df, Q_pval, status``), the
        back-transformed ``estimate_exp, ci_low_exp, ci_high_exp, pi_low_exp, pi_high_exp``
        (ratio measures, ``scale == "log"``; NaN otherwise) and the method details."""
        return self._pooled.copy()

    def studies_frame(self) -> pd.DataFrame:
        """One row per study: effect size ``yi``, variance ``vi``, its CI and its weight in
        percent under this result's model (``weight_random`` or ``weight_fixed``; the columns of
        the workflow's ``studies.csv``)."""
        return self._studies.copy()

    @property
    def studies(self) -> pd.DataFrame:
        """The studies table (see :meth:`studies_frame`)."""
        return self.studies_frame()

    @property
    def analysis_ids(self) -> list:
        """The analyses, in table order."""
        return self._pooled["analysis_id"].tolist()

    def __len__(self) -> int:
        return len(self._pooled)

    def __getitem__(self, key) -> MetaAnalysisResult:
        """The result of one analysis, by position or ``analysis_id``."""
        ids = self.analysis_ids
        if isinstance(key, (int, np.integer)):
            key = ids[key]
        if key not in ids:
            raise KeyError(key)

        def keep(df):
            return df[df["analysis_id"].astype(str) == key].reset_index(drop=True)

        return MetaAnalysisResult(
            keep(self._pooled),
            keep(self._studies),
            keep(self.effects),
            keep(self.trials),
            self.settings,
            self.warnings,
        )

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def _value(self, name):
        values = self._pooled[name].to_numpy(dtype=float)
        return float(values[0]) if values.size == 1 else values

    @property
    def estimate(self):
        """Pooled estimate on the analysis scale (log for ratios): a float for one analysis."""
        return self._value("estimate")

    @property
    def se(self):
        """Standard error of the pooled estimate."""
        return self._value("se")

    @property
    def pvalue(self):
        """p-value of the test of no effect."""
        return self._value("pval")

    @property
    def tau2(self):
        """Between-study variance tau2 (NaN for fixed-effect, MH and Peto models)."""
        return self._value("tau2")

    @property
    def I2(self):
        """I2 in percent."""
        return self._value("I2")

    def conf_int(self, level: float | None = None) -> pd.DataFrame:
        """CI of the pooled estimate, one row per analysis (index ``analysis_id``): ``ci_low,
        ci_high`` and, for ratio measures, ``ci_low_exp, ci_high_exp``. Another ``level`` re-pools
        with the same engine (:func:`trialmeta.tables.pooled.pool_analyses`) at that level."""
        pooled = self._pooled
        if level is not None and float(level) != self.settings["level"]:
            _check_settings(
                self.settings["tau2_method"],
                self.settings["ci_method"],
                level,
                self.settings["prediction_interval"],
                self.settings["model"],
            )
            pooled = _pool(self.effects, self.settings, float(level))[0]
        cols = ["ci_low", "ci_high"]
        if (pooled["scale"] == "log").any():
            cols += ["ci_low_exp", "ci_high_exp"]
        return pooled.set_index("analysis_id")[cols].copy()

    # --------------------------------------------------------------- text
    def summary(self) -> str:
        """A printable report of each analysis, as metafor's ``print.rma``: k, model and
        estimators, tau2 (with its Q-profile CI), tau, I2, H2, the Q test, the estimate with SE,
        test, CI and prediction interval, back-transformed values for ratio measures, status."""
        keys = self.settings["group_by"]
        blocks = [
            _summary_block(row, keys, self.settings["level"])
            for row in self._pooled.to_dict("records")
        ]
        return "\n\n".join(blocks)

    def __repr__(self) -> str:
        s = self.settings
        method = (
            f"random effects ({s['tau2_method']}, {s['ci_method']})"
            if s["model"] == "random"
            else _MODEL_NAMES[s["model"]].lower()
        )
        if len(self) == 1:
            row = self._pooled.iloc[0]
            exp = row["scale"] == "log"
            est, lo, hi = (np.exp if exp else float)(
                row[["estimate", "ci_low", "ci_high"]].to_numpy(float)
            )
            return (
                f"<MetaAnalysisResult: {row['analysis_id']}, k = {int(row['k'])}, "
                f"{row['measure']} = {est:.4g} [{lo:.4g}, {hi:.4g}], {method}, "
                f"level {s['level']:g}>"
            )
        measures = "/".join(sorted(self._pooled["measure"].astype(str).unique())) or "-"
        return (
            f"<MetaAnalysisResult: {len(self)} analyses, measure {measures}, {method}, "
            f"level {s['level']:g}>"
        )

    # --------------------------------------------------------------- exploration
    @property
    def _tau2_method(self) -> str:
        return self.settings["tau2_method"]

    def leave_one_out(self) -> ExplorationResult:
        """Each analysis (k >= 2) re-pooled without each study in turn (metafor ``leave1out``;
        random effects with this result's tau2 estimator and CI method, as the workflow's
        default ``sensitivity_ci_method: primary``)."""
        return ExplorationResult(
            "leave_one_out",
            tables.leave_one_out_table(
                self.effects,
                tau2_method=self._tau2_method,
                level=self.settings["level"],
                ci_method=self.settings["ci_method"],
            ),
        )

    def influence(self) -> ExplorationResult:
        """Case-deletion diagnostics of the random-effects model (metafor ``influence``;
        Viechtbauer & Cheung 2010): rstudent, DFFITS, Cook's distance, covariance ratio, ..."""
        return ExplorationResult(
            "influence", tables.influence_table(self.effects, tau2_method=self._tau2_method)
        )

    def cumulative(self, order_by: str | None = "year") -> ExplorationResult:
        """Cumulative meta-analysis: studies added by ascending ``order_by`` (a numeric column,
        ties in table order; None: table order). Analyses where a study lacks the value are left
        out. The ordering column is reported under its own name (``order`` for table order).
        Random effects with this result's tau2 estimator and CI method."""
        trials = self.trials
        if order_by is None:
            trials = trials.assign(year=np.arange(len(trials), dtype=float))
        elif order_by != "year":
            if order_by not in trials:
                raise KeyError(f"no column {order_by!r} in the trials table")
            trials = trials.assign(year=trials[order_by])
        frame = tables.cumulative_table(
            self.effects,
            trials,
            tau2_method=self._tau2_method,
            level=self.settings["level"],
            ci_method=self.settings["ci_method"],
        )
        if order_by != "year":
            frame = frame.rename(columns={"year": order_by or "order"})
        return ExplorationResult("cumulative", frame)

    def subgroups(self, moderator, *, common_tau2: bool = False) -> ExplorationResult:
        """Random-effects pooling within each level of a categorical moderator (or a list of
        them) and the test for subgroup differences (Borenstein et al. 2009, ch. 19); CIs of the
        levels and of the overall estimate with this result's CI method (column ``ci_method``)."""
        mods = [moderator] if isinstance(moderator, str) else list(moderator)
        return ExplorationResult(
            "subgroups",
            tables.subgroups_table(
                self.effects,
                self.trials,
                mods,
                tau2_method=self._tau2_method,
                common_tau2=common_tau2,
                level=self.settings["level"],
                ci_method=self.settings["ci_method"],
            ),
        )

    def metaregression(
        self, moderators, *, test: str = "z", method: str | None = None
    ) -> ExplorationResult:
        """One mixed-effects meta-regression ``~ moderator`` per moderator (metafor ``rma`` with
        ``mods``); ``test`` ``z`` or ``knha``; ``method`` the tau2 estimator (default: this
        result's if REML, ML or DL, else REML, as the workflow)."""
        mods = [moderators] if isinstance(moderators, str) else list(moderators)
        if method is None:
            method = self._tau2_method if self._tau2_method in METAREGRESSION_METHODS else "REML"
        return ExplorationResult(
            "metaregression",
            tables.metaregression_table(
                self.effects,
                self.trials,
                mods,
                method=method,
                test=test,
                level=self.settings["level"],
            ),
        )

    def small_study(self, min_k: int = MIN_STUDIES) -> ExplorationResult:
        """Small-study effects where k >= ``min_k`` (Cochrane Handbook 13.3.5.4 advises 10):
        Egger's regression test (rma and lm), Begg's rank test, trim-and-fill (L0)."""
        return ExplorationResult(
            "small_study",
            tables.small_study_table(self.effects, min_k=min_k, level=self.settings["level"]),
        )


# ----------------------------------------------------------------------------- summary text
def _num(x, digits: int = 4) -> str:
    x = float(x)
    return "NA" if not np.isfinite(x) else f"{x:.{digits}f}"


def _pval(p) -> str:
    p = float(p)
    return "NA" if not np.isfinite(p) else ("<.0001" if p < 1e-4 else f"{p:.4f}")


def _interval(lo, hi) -> str:
    return f"[{_num(lo)}, {_num(hi)}]"


def _heterogeneity_lines(row: dict, pct: str) -> list:
    """tau2 / tau / I2 / H2 and the Q test, as metafor's print.rma."""
    lines = []
    if np.isfinite(float(row["tau2"])):
        lines += [
            f"tau^2 (between-study variance): {_num(row['tau2'])} "
            f"({pct} CI {_interval(row['tau2_ci_low'], row['tau2_ci_high'])}, Q-profile)",
            f"tau (square root of tau^2):     {_num(row['tau'])}",
        ]
    if np.isfinite(float(row["I2"])):
        ci = (
            f" ({pct} CI [{_num(row['I2_ci_low'], 2)}, {_num(row['I2_ci_high'], 2)}])"
            if np.isfinite(float(row["I2_ci_low"]))
            else ""
        )
        lines.append(f"I^2 (total heterogeneity / total variability): {_num(row['I2'], 2)}%{ci}")
    if np.isfinite(float(row["H2"])):
        lines.append(f"H^2 (total variability / sampling variability): {_num(row['H2'])}")
    if np.isfinite(float(row["Q"])):
        df = row["Q_df"]
        df = int(df) if pd.notna(df) else "NA"
        lines += [
            "",
            "Test for heterogeneity:",
            f"Q(df = {df}) = {_num(row['Q'])}, p-val = {_pval(row['Q_pval'])}",
        ]
    return lines


def _estimate_lines(row: dict, pct: str) -> list:
    """The model results table and, for ratio measures, the back-transformed values."""
    t_based = pd.notna(row["df"]) and np.isfinite(float(row["df"]))
    head = (
        ["estimate", "se", "tval" if t_based else "zval"]
        + (["df"] if t_based else [])
        + ["pval", "ci.lb", "ci.ub", "pi.lb", "pi.ub"]
    )
    vals = (
        [_num(row["estimate"]), _num(row["se"]), _num(row["stat"])]
        + ([str(int(row["df"]))] if t_based else [])
        + [
            _pval(row["pval"]),
            _num(row["ci_low"]),
            _num(row["ci_high"]),
            _num(row["pi_low"]),
            _num(row["pi_high"]),
        ]
    )
    width = [max(len(h), len(v)) for h, v in zip(head, vals)]
    lines = [
        "",
        "Model results:",
        "",
        "  ".join(h.rjust(w) for h, w in zip(head, width)),
        "  ".join(v.rjust(w) for v, w in zip(vals, width)),
    ]
    if row["scale"] == "log":
        lines += [
            "",
            f"Back-transformed ({row['measure']}): {_num(row['estimate_exp'])}, "
            f"{pct} CI {_interval(row['ci_low_exp'], row['ci_high_exp'])}"
            + (
                f", {pct} PI {_interval(row['pi_low_exp'], row['pi_high_exp'])}"
                if np.isfinite(float(row["pi_low_exp"]))
                else ""
            ),
        ]
    return lines


def _summary_block(row: dict, keys, level: float) -> str:
    """One analysis as text (metafor's print.rma layout)."""
    pct = f"{100 * level:g}%"
    model = f"{_MODEL_NAMES.get(row['model'], row['model'])} (k = {int(row['k'])}"
    if row["model"] == "random":
        model += (
            f"; tau^2 estimator: {row['tau2_method']}; CI: "
            f"{_CI_NAMES.get(row['ci_method'], row['ci_method'])}"
        )
    lines = [model + ")", f"Analysis: {row['analysis_id']}"]
    lines += [f"  {key}: {row[key]}" for key in keys if key in row]
    lines.append(f"Measure: {row['measure']} ({row['scale']} scale)")
    lines += [""] + _heterogeneity_lines(row, pct) + _estimate_lines(row, pct)
    lines += ["", f"Status: {row['status']}"]
    return "\n".join(lines)

"""The Summary of Findings table (``summary_of_findings.csv``) and its GRADE signals
(``grade_signals.csv``), one row per analysis (and per assumed control risk).

Per analysis, from its primary pooled result (the row with ``primary`` true):

* **assumed control risk**: config ``assumed_control_risk`` for its ``analysis_id`` or its
  ``outcome`` (one row per value of a list), else the median control-group risk
  ``events_ctrl / n_ctrl`` of its trials;
* **absolute effects** for RR, OR and RD (:mod:`trialmeta.stats.absolute_effects`): the
  treatment-group risk per 1,000 with its CI from the CI of the relative effect, the risk
  difference per 1,000 with its CI, and the NNT (benefit or harm by the trials'
  ``higher_is_better``; Altman's CI through infinity when the CI includes no effect);
  continuous outcomes: the median control-group mean (``control_mean`` in grade_signals.csv) and
  the MD in the ``relative_*`` columns;
* **GRADE signals** (:mod:`trialmeta.tables.grade`), the reviewer's judgements applied, and the
  certainty;
* **plain language** after Santesso et al. (2020, GRADE guidelines 26, J Clin Epidemiol
  119:126-135): high certainty "reduces"/"increases", moderate "probably ...", low "may ...",
  very low "The evidence is very uncertain about the effect of ..."; "little to no difference"
  when the point estimate lies within the minimal important difference (config, or 0.75 to 1.25
  for ratios).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from trialmeta.inputs.booleans import parse_bool
from trialmeta.stats import absolute_effects as ae
from trialmeta.tables import grade

__all__ = ["SOF_COLUMNS", "summary_of_findings_tables", "nnt_text", "plain_language"]

#: The contract columns of summary_of_findings.csv (after the group_by columns).
SOF_COLUMNS = [
    "analysis_id",
    "outcome",
    "k",
    "participants",
    "relative_measure",
    "relative_estimate",
    "relative_ci_low",
    "relative_ci_high",
    "assumed_control_risk_per_1000",
    "treatment_risk_per_1000",
    "treatment_risk_ci_low",
    "treatment_risk_ci_high",
    "risk_difference_per_1000",
    "rd_ci_low",
    "rd_ci_high",
    "nnt",
    "certainty",
    "downgrades",
    "plain_language",
]
DEFAULT_RATIO_MID = 0.25  # GRADE 6: RRR / RRI of 25% as appreciable benefit / harm


def _truthy(s: pd.Series) -> pd.Series:
    return s.map(lambda v: bool(parse_bool(v))) if s.dtype != bool else s


def _by_id(df: pd.DataFrame | None) -> dict:
    if df is None or not len(df) or "analysis_id" not in df.columns:
        return {}
    return {str(a): g for a, g in df.groupby(df["analysis_id"].astype(str), sort=False)}


def _lookup(mapping, aid: str, outcome: str):
    mapping = mapping or {}
    return mapping.get(aid, mapping.get(outcome))


def _number(value) -> float:
    """``float(pd.to_numeric(value, errors="coerce"))``, without pandas for a number."""
    if isinstance(value, (int, float)):
        return float(value)
    return float(pd.to_numeric(value, errors="coerce"))


def _primary(row: dict) -> dict:
    """The primary result on the natural scale (ratios exponentiated, single-arm proportions
    back-transformed); null = no effect (NaN for single-arm outcomes: nothing to compare).
    ``row``: the analysis's primary pooled row (column -> value)."""
    ratio = str(row.get("scale")) == "log"
    single = str(row.get("outcome_type")) in grade.SINGLE_ARM_TYPES
    natural = ratio or (single and str(row.get("scale")) not in ("raw", "identity"))
    sfx = "_exp" if natural else ""
    g = {
        c: _number(row.get(f"{c}{sfx}"))
        for c in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
    }
    for c in ("I2", "I2_ci_low", "I2_ci_high"):
        g[c] = _number(row.get(c))
    null = math.nan if single else 1.0 if ratio else 0.0
    g.update(measure=str(row["measure"]), ratio=ratio, null=null, single_arm=single)
    g["k"] = int(pd.to_numeric(row.get("k"), errors="coerce") or 0)
    return g


def _mid(prim: dict, configured) -> dict:
    """MID thresholds on the natural scale: ``low``/``high`` (None when there is none)."""
    if prim["single_arm"]:
        return {"low": None, "high": None, "given": False, "value": None}
    if prim["ratio"]:
        m = float(configured) if configured is not None else DEFAULT_RATIO_MID
        return {"low": 1 - m, "high": 1 + m, "given": configured is not None, "value": m}
    if configured is None:
        return {"low": None, "high": None, "given": False, "value": None}
    m = float(configured)
    return {"low": -m, "high": m, "given": True, "value": m}


#: The study columns the facts of an analysis are computed from.
FACT_COLUMNS = ("n_treat", "n_ctrl", "events_ctrl", "mean_ctrl", "sd_ctrl", "yi")


class _StudyColumns:
    """The study rows of every analysis as float arrays, converted once for the whole table
    (``pd.to_numeric``, unparseable -> NaN) and picked per analysis and measure by position."""

    def __init__(self, studies: pd.DataFrame | None):
        usable = studies is not None and len(studies) and "analysis_id" in studies.columns
        self.positions = (
            studies.groupby(studies["analysis_id"].astype(str), sort=False).indices
            if usable
            else {}
        )
        self.measure = studies["measure"].astype(str).to_numpy() if usable else None
        self.values = {
            c: pd.to_numeric(studies[c], errors="coerce").to_numpy(dtype=float)
            for c in FACT_COLUMNS
            if usable and c in studies.columns
        }

    def of(self, aid: str, measure: str) -> dict[str, np.ndarray]:
        """Column -> values of the analysis's studies with this measure (in table order); a
        column the table lacks, or an analysis without studies: empty."""
        pos = self.positions.get(aid)
        if pos is None:
            return dict.fromkeys(FACT_COLUMNS, np.array([], dtype=float))
        pos = pos[self.measure[pos] == measure]
        empty = np.array([], dtype=float)
        return {c: self.values[c][pos] if c in self.values else empty for c in FACT_COLUMNS}


def _first_known_direction(trials: pd.DataFrame | None) -> dict[str, bool]:
    """analysis_id -> the first ``higher_is_better`` of its trials that is given (table order)."""
    if trials is None or not len(trials) or "analysis_id" not in trials.columns:
        return {}
    if "higher_is_better" not in trials.columns:
        return {}
    out: dict[str, bool] = {}
    parsed: dict = {}
    ids = trials["analysis_id"].astype(str).tolist()
    for aid, value in zip(ids, trials["higher_is_better"].tolist()):
        if aid in out:
            continue
        key = (type(value), value)
        if key not in parsed:
            parsed[key] = parse_bool(value)
        if parsed[key] is not None:
            out[aid] = parsed[key]
    return out


def _first_small_study_rows(df: pd.DataFrame | None) -> dict[tuple[str, str], tuple]:
    """(analysis_id, measure) -> (Egger's P, trim-and-fill k0) of its first row in ``df``
    (small_study.csv), as given (not yet numbers)."""
    if df is None or not len(df) or "analysis_id" not in df.columns:
        return {}
    keys = zip(df["analysis_id"].astype(str).tolist(), df["measure"].astype(str).tolist())
    values = zip(df["egger_rma_pval"].tolist(), df["trimfill_k0"].tolist())
    out: dict[tuple[str, str], tuple] = {}
    for key, pair in zip(keys, values):
        out.setdefault(key, pair)
    return out


def _median(x: np.ndarray) -> float:
    """The median of the values of ``x`` that are not NaN (NaN when none is finite): the middle
    value, or the mean of the two middle values, of the sorted values -- ``np.nanmedian``'s
    result, without its ~25 microseconds a call (three calls per analysis)."""
    values = x[~np.isnan(x)]
    if not np.isfinite(values).any():
        return math.nan
    if values.dtype != np.float64 or not np.isfinite(values).all():
        return float(np.nanmedian(x))  # infinities: numpy's own rules
    s = sorted(values.tolist())
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


def _facts(cols: dict[str, np.ndarray], hib) -> dict:
    """Participants, control-group risk / mean / SD (medians over trials), higher_is_better;
    ``cols``: :meth:`_StudyColumns.of`."""
    n = np.nansum(cols["n_treat"]) + np.nansum(cols["n_ctrl"])
    with np.errstate(invalid="ignore", divide="ignore"):
        risks = cols["events_ctrl"] / cols["n_ctrl"]
    return {
        "participants": float(n),
        "control_risk_median": _median(risks),
        "control_mean": _median(cols["mean_ctrl"]),
        "control_sd": _median(cols["sd_ctrl"]),
        "higher_is_better": hib,
        "yi": cols["yi"],
    }


def nnt_text(nnt: float, first: float, second: float, crosses: bool) -> str:
    """``NNTB 5 (4 to 8)``, ``NNTH 12 (7 to 40)`` or, when the CI includes no effect,
    ``NNTB 22 (NNTB 8 to ∞ to NNTH 46)`` (Altman 1998); NNTs rounded up to whole patients."""
    if not np.isfinite(nnt) and not np.isinf(nnt):
        return ""

    def up(x):
        return "∞" if not np.isfinite(x) else f"{math.ceil(abs(x) - 1e-9):,}"

    label = "NNTB" if nnt > 0 else "NNTH"
    head = "NNT ∞" if np.isinf(nnt) else f"{label} {up(nnt)}"
    if not (np.isfinite(first) or np.isinf(first)):
        return head
    if crosses:
        return f"{head} (NNTB {up(first)} to ∞ to NNTH {up(second)})"
    return f"{head} ({up(first)} to {up(second)})"


def _single_arm_statement(therapy: str, outcome: str, certainty: str, prim: dict) -> str:
    """Single-arm evidence: the level reached with the therapy, no comparison."""
    if certainty == "very low":
        return (
            f"The evidence is very uncertain about {outcome} with {therapy} "
            "(single-arm evidence, no comparator)."
        )
    est, lo, hi = prim["estimate"], prim["ci_low"], prim["ci_high"]
    proportion = prim["measure"] in ("PLO", "PAS", "PFT", "PR")
    fmt = (lambda x: f"{100 * x:.0f}%") if proportion else (lambda x: f"{x:.3g}")
    verb = {"high": "is", "moderate": "is probably", "low": "may be"}[certainty]
    what = f"{outcome} with {therapy}" if proportion else f"the mean {outcome} with {therapy}"
    return (
        f"{what[0].upper()}{what[1:]} {verb} about {fmt(est)} (95% CI {fmt(lo)} to {fmt(hi)}; "
        "single-arm evidence, no comparator)."
    )


def plain_language(labels: dict, certainty: str, prim: dict, mid: dict) -> str:
    """The GRADE informative statement (Santesso et al. 2020)."""
    therapy, outcome = labels["therapy"], labels["outcome"]
    versus = f" compared with {labels['comparator']}" if labels.get("comparator") else ""
    if prim.get("single_arm"):
        return _single_arm_statement(therapy, outcome, certainty, prim)
    if certainty == "very low":
        return f"The evidence is very uncertain about the effect of {therapy} on {outcome}{versus}."
    est, null = prim["estimate"], prim["null"]
    small = mid["low"] is not None and mid["low"] < est < mid["high"]
    if small or est == null:
        verb = {"high": "results", "moderate": "probably results", "low": "may result"}[certainty]
        return f"{therapy} {verb} in little to no difference in {outcome}{versus}."
    up = est > null
    verb = {
        "high": "increases" if up else "reduces",
        "moderate": "probably increases" if up else "probably reduces",
        "low": "may increase" if up else "may reduce",
    }[certainty]
    return f"{therapy} {verb} {outcome}{versus}."


def _absolute(prim: dict, acr: float, hib) -> dict:
    """The absolute-effect columns for one assumed control risk (blank for other measures)."""
    out = dict.fromkeys(SOF_COLUMNS[8:16], math.nan)
    out["nnt"] = ""
    m = prim["measure"]
    if m not in ae.RISK_MEASURES or not np.isfinite(acr) or prim["single_arm"]:
        return out, {}
    x = np.array([prim["estimate"], prim["ci_low"], prim["ci_high"]])
    pt = ae.treatment_risk(acr, x, m)
    rd = pt - acr
    out.update(
        assumed_control_risk_per_1000=1000 * acr,
        treatment_risk_per_1000=1000 * pt[0],
        treatment_risk_ci_low=1000 * pt.min(),
        treatment_risk_ci_high=1000 * pt.max(),
        risk_difference_per_1000=1000 * rd[0],
        rd_ci_low=1000 * rd.min(),
        rd_ci_high=1000 * rd.max(),
    )
    detail = {}
    if hib is not None and (acr > 0 or m == "RD"):  # no NNT from a ratio at control risk 0
        nnt = float(ae.signed_nnt(rd[0], hib))
        first, second, crosses = ae.nnt_interval(rd.min(), rd.max(), hib)
        out["nnt"] = nnt_text(nnt, float(first), float(second), bool(crosses))
        detail = {
            "nnt_value": nnt,
            "nnt_ci_first": float(first),
            "nnt_ci_second": float(second),
            "nnt_ci_crosses_no_effect": bool(crosses),
        }
    return out, detail


def _ois(prim: dict, facts: dict, acr: float, mid: dict) -> float:
    if prim["measure"] in ae.RISK_MEASURES:
        rrr = mid["value"] if (prim["ratio"] and mid["given"]) else DEFAULT_RATIO_MID
        return float(ae.ois_binary(acr, rrr))
    if prim["measure"] == "MD":
        sd = facts["control_sd"]
        delta = mid["value"] if mid["given"] else 0.2 * sd
        return float(ae.ois_continuous(sd, delta))
    if prim["measure"] == "SMD":
        return float(ae.ois_continuous(1.0, mid["value"] if mid["given"] else 0.2))
    return math.nan


def _labels(row: dict, group_by) -> dict:
    gb = [c for c in group_by if c in row]
    therapy = next((str(row[c]) for c in ("therapy_class", "therapy") if c in row), None)
    return {
        "therapy": therapy or (str(row[gb[0]]) if gb else "the intervention"),
        "comparator": str(row["comparator"]) if "comparator" in row else "",
        "outcome": str(row["outcome"]) if "outcome" in row else str(row["analysis_id"]),
    }


def _small_study(first: dict, aid: str, measure: str):
    """Egger's P and trim-and-fill's k0 of the analysis's first small_study.csv row with its
    primary measure (None, None without one); ``first``: :func:`_first_small_study_rows`."""
    pair = first.get((aid, measure))
    if pair is None:
        return None, None
    egger_p = float(pd.to_numeric(pair[0], errors="coerce"))
    k0 = pd.to_numeric(pair[1], errors="coerce")
    return egger_p, int(k0) if np.isfinite(k0) else None


def _signals(prim, facts, rob_a, sens_a, small, judg_a, ois, mid, settings) -> dict:
    """``small``: (Egger's P, trim-and-fill k0) of :func:`_small_study`."""
    egger_p, k0 = small
    raw = {
        "risk_of_bias": grade.rob_signal(rob_a, sens_a, prim),
        "inconsistency": grade.inconsistency_signal(prim, facts["yi"]),  # yi: model scale
        "indirectness": grade.indirectness_signal(),
        "imprecision": grade.imprecision_signal(prim, facts["participants"], ois, mid),
        "publication_bias": grade.publication_bias_signal(
            prim["k"], settings.small_study_min_k, egger_p, k0
        ),
    }
    return grade.apply_judgements(raw, judg_a)


def _downgrades_text(sig: dict) -> str:
    parts = []
    for d in grade.DOMAINS:
        s = sig[d]
        if s["downgrade"] or s["overridden"]:
            who = " (reviewer)" if s["overridden"] else ""
            parts.append(f"{grade.DOMAIN_NAMES[d]}: {s['signal']}{who} (-{s['downgrade']})")
    text = "; ".join(p for p in parts if not p.endswith("(-0)")) or "none"
    unknown = [grade.DOMAIN_NAMES[d] for d in grade.DOMAINS if sig[d]["signal"] == "not assessed"]
    return text + (f" (not assessed: {', '.join(unknown)})" if unknown else "")


def _signal_columns(sig: dict) -> dict:
    out = {}
    for d in grade.DOMAINS:
        s = sig[d]
        out.update(
            {
                f"{d}_signal": s["signal"],
                f"{d}_downgrade": s["downgrade"],
                f"{d}_suggested": s["suggested"],
                f"{d}_reason": s["reason"],
                f"{d}_reviewer_override": s["overridden"],
                f"{d}_reviewer_reason": s["override_reason"],
            }
        )
    return out


def _analysis_rows(row: dict, frames: dict, settings) -> tuple[list[dict], dict]:
    """The SoF rows (one per assumed control risk) and the signal row of one analysis (``row``:
    its primary pooled row, column -> value)."""
    aid = str(row["analysis_id"])
    prim = _primary(row)
    facts = _facts(frames["studies"].of(aid, prim["measure"]), frames["trials"].get(aid))
    labels = _labels(row, settings.group_by)
    mid = _mid(prim, _lookup(settings.minimal_important_difference, aid, labels["outcome"]))
    given = _lookup(settings.assumed_control_risk, aid, labels["outcome"])
    if given is None:
        risks = [facts["control_risk_median"]]
    else:
        risks = [float(x) for x in (given if isinstance(given, (list, tuple)) else [given])]
    ois = _ois(prim, facts, risks[0], mid)
    sig = _signals(
        prim,
        facts,
        frames["rob"].get(aid),
        frames["rob_sensitivity"].get(aid),
        _small_study(frames["small_study"], aid, prim["measure"]),
        frames["judgements"].get(aid),
        ois,
        mid,
        settings,
    )
    start = 2 if str(row.get("outcome_type")) in grade.SINGLE_ARM_TYPES else 4
    certainty = grade.certainty_of(start, sig)
    key = {c: row[c] for c in settings.group_by if c in row}
    base = dict(
        key,
        analysis_id=aid,
        outcome=labels["outcome"],
        k=prim["k"],
        participants=int(facts["participants"]),
        relative_measure=prim["measure"],
        relative_estimate=prim["estimate"],
        relative_ci_low=prim["ci_low"],
        relative_ci_high=prim["ci_high"],
    )
    tail = {
        "certainty": certainty,
        "downgrades": _downgrades_text(sig),
        "plain_language": plain_language(labels, certainty, prim, mid),
    }
    pairs = [_absolute(prim, acr, facts["higher_is_better"]) for acr in risks]
    sof = [dict(base, **absolute, **tail) for absolute, _ in pairs]
    details = [detail for _, detail in pairs]
    signal_row = dict(
        key,
        analysis_id=aid,
        measure=prim["measure"],
        k=prim["k"],
        participants=int(facts["participants"]),
        assumed_control_risk_source="config" if given is not None else "median of trials",
        control_risk_median=facts["control_risk_median"],
        control_mean=facts["control_mean"],
        control_sd=facts["control_sd"],
        higher_is_better=facts["higher_is_better"],
        mid_low=mid["low"],
        mid_high=mid["high"],
        mid_source="config" if mid["given"] else ("GRADE default" if prim["ratio"] else "none"),
        optimal_information_size=ois,
        I2=prim["I2"],
        I2_ci_low=prim["I2_ci_low"],
        I2_ci_high=prim["I2_ci_high"],
        pi_low=prim["pi_low"],
        pi_high=prim["pi_high"],
        **(details[0] or dict.fromkeys(NNT_DETAIL, math.nan)),
        start=grade.CERTAINTY[start],
        certainty_suggested=grade.certainty_of(start, sig, "suggested_downgrade"),
        certainty=certainty,
        **_signal_columns(sig),
    )
    return sof, signal_row


NNT_DETAIL = ["nnt_value", "nnt_ci_first", "nnt_ci_second", "nnt_ci_crosses_no_effect"]


def summary_of_findings_tables(
    pooled: pd.DataFrame,
    studies: pd.DataFrame,
    trials: pd.DataFrame | None,
    settings,
    *,
    small_study: pd.DataFrame | None = None,
    rob: pd.DataFrame | None = None,
    rob_sensitivity: pd.DataFrame | None = None,
    judgements: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(summary_of_findings, grade_signals)`` of every analysis with a primary result.

    ``settings``: a :class:`~trialmeta.inputs.settings.Settings` or config dict. ``rob``,
    ``rob_sensitivity``: ``risk_of_bias.csv`` and ``rob_sensitivity.csv`` (None or empty: risk
    of bias "not assessed"); ``judgements``: :func:`~trialmeta.inputs.grade_judgements.
    read_grade_judgements`."""
    from trialmeta.inputs.settings import Settings

    settings = Settings.coerce(settings)
    frames = {
        "studies": _StudyColumns(studies),
        "trials": _first_known_direction(trials),
        "rob": _by_id(rob),
        "rob_sensitivity": _by_id(rob_sensitivity),
        "small_study": _first_small_study_rows(small_study),
        "judgements": _by_id(judgements),
    }
    keys = [c for c in settings.group_by if c in pooled.columns]
    # a group_by column that is also a contract column (outcome) appears once, in the key
    columns = keys + [c for c in SOF_COLUMNS if c not in keys]
    prim = pooled[_truthy(pooled["primary"])] if "primary" in pooled.columns else pooled.iloc[0:0]
    prim = prim.drop_duplicates("analysis_id")
    prim = prim.sort_values(keys + ["analysis_id"], kind="mergesort") if len(prim) else prim
    sof, signals = [], []
    # the values DataFrame.iterrows gives (one object array), as dicts: no Series per analysis
    for values in prim.values:
        rows, signal_row = _analysis_rows(dict(zip(prim.columns, values)), frames, settings)
        sof += rows
        signals.append(signal_row)
    sof_df = pd.DataFrame(sof, columns=columns)
    sig_df = pd.DataFrame(signals)
    return sof_df.reset_index(drop=True), sig_df.reset_index(drop=True)

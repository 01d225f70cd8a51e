"""The interaction tables (issue 11): ``interactions.csv``, ``interaction_studies.csv`` and the
per-level pooled estimates the figure and the report draw from (``interaction_levels``).

Units: analysis (``analysis_id``) x ``subgroup_variable`` x level pair. Levels come in the order
of the config key ``subgroup_levels`` (``{anti-dsDNA: [high, normal]}``; levels not listed follow,
sorted), else sorted; with more than two levels each level is compared with the first. Effects
are on the primary measure of the analysis (the first configured measure of its outcome type;
generic rows: their own measure). Statistics: :mod:`trialmeta.stats.interactions`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trialmeta.stats import distributions
from trialmeta.stats import interactions as st
from trialmeta.tables.effects import compute_effect_sizes
from trialmeta.tables.ratio import with_exp

__all__ = [
    "INTERACTION_COLUMNS",
    "STUDY_COLUMNS",
    "level_pairs",
    "interaction_tables",
]

#: columns of interactions.csv after the group_by columns (the contract)
INTERACTION_COLUMNS = (
    "analysis_id",
    "subgroup_variable",
    "level_a",
    "level_b",
    "method",
    "model",
    "tau2_method",
    "ci_method",
    "k",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "pval",
    "tau2",
    "I2",
    "Q",
    "Q_pval",
    "scale",
    "estimate_exp",
    "ci_low_exp",
    "ci_high_exp",
    "status",
)
#: columns of interaction_studies.csv (the contract's, after analysis_id and subgroup_variable)
STUDY_COLUMNS = ("study_id", "level_a", "level_b", "yi_a", "vi_a", "yi_b", "vi_b", "d", "vd")


def level_pairs(levels, order=()) -> list[tuple[str, str]]:
    """``[(first, other), ...]``: levels in ``order`` first (those present), the rest sorted."""
    present = list(dict.fromkeys(str(x) for x in levels))
    ordered = [x for x in order if x in present] + sorted(x for x in present if x not in order)
    return [(ordered[0], b) for b in ordered[1:]]


def _primary_effects(subgroups: pd.DataFrame, settings) -> pd.DataFrame:
    effects = compute_effect_sizes(
        subgroups, measures=settings.measures.as_dict(), continuity=settings.continuity.as_dict()
    )
    effects = effects[effects["primary_measure"].astype(bool)]
    return effects[np.isfinite(effects["yi"].to_numpy(float))].reset_index(drop=True)


def _units(effects: pd.DataFrame, settings) -> pd.DataFrame:
    """One row per unit: analysis_id, subgroup_variable, level_a, level_b, measure, scale."""
    order = dict(getattr(settings, "subgroup_levels", None) or {})
    rows = []
    for (aid, var), g in effects.groupby(["analysis_id", "subgroup_variable"], sort=True):
        for a, b in level_pairs(g["subgroup_level"], order.get(var, ())):
            rows.append((aid, var, a, b, g["measure"].iloc[0], g["scale"].iloc[0]))
    cols = ["analysis_id", "subgroup_variable", "level_a", "level_b", "measure", "scale"]
    return pd.DataFrame(rows, columns=cols)


def _long(effects: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """Effects rows of each unit's two levels (``unit``, ``is_b``)."""
    parts = []
    for u, (aid, var, a, b) in enumerate(
        units[["analysis_id", "subgroup_variable", "level_a", "level_b"]].itertuples(index=False)
    ):
        g = effects[(effects["analysis_id"] == aid) & (effects["subgroup_variable"] == var)]
        g = g[g["subgroup_level"].isin([a, b])].assign(unit=u, is_b=lambda x: x.subgroup_level == b)
        parts.append(g)
    return pd.concat(parts, ignore_index=True) if parts else effects.iloc[0:0]


def _study_table(long: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    a = long[~long["is_b"]][["unit", "study_id", "yi", "vi"]]
    b = long[long["is_b"]][["unit", "study_id", "yi", "vi"]]
    both = a.merge(b, on=["unit", "study_id"], suffixes=("_a", "_b"))
    d, vd = st.trial_differences(both["yi_a"], both["vi_a"], both["yi_b"], both["vi_b"])
    both = both.assign(d=d, vd=vd).sort_values(["unit", "study_id"], kind="stable")
    keys = units.iloc[both["unit"].to_numpy()].reset_index(drop=True)
    out = pd.concat([keys, both.reset_index(drop=True)], axis=1)
    return out


def _rows(units, method, model, tau2_method, ci_method, cols) -> pd.DataFrame:
    out = units.copy()
    out["method"], out["model"] = method, model
    out["tau2_method"], out["ci_method"] = tau2_method, ci_method
    for name, values in cols.items():
        out[name] = values
    return out


def _within_rows(studies, units, settings) -> list[pd.DataFrame]:
    tau2, ci = settings.primary_tau2_method, settings.primary_ci_method
    fixed, random = st.within_trial(
        studies["unit"], studies["d"], studies["vd"], len(units), tau2, ci, settings.level
    )
    out = []
    for res, model, t, c in ((fixed, "fixed", "", "wald"), (random, "random", tau2, ci)):
        cols = {n: getattr(res, n) for n in ("k", "estimate", "se", "ci_low", "ci_high", "pval")}
        cols.update(tau2=res.tau2 if model == "random" else np.full(len(units), np.nan))
        cols.update(I2=res.I2, Q=res.Q, Q_pval=res.Q_pval, status=res.status)
        out.append(_rows(units, "within_trial", model, t, c, cols))
    return out


def _between(long, units, settings):
    """Between-trial rows and the per-level pooled estimates (figure, report)."""
    tau2 = settings.primary_tau2_method
    rows, levels = [], []
    for model, t, c in (("fixed", "FE", "wald"), ("random", tau2, "wald")):
        fit = st.between_trial(
            long["unit"], long["is_b"], long["yi"], long["vi"], len(units), t, settings.level
        )
        cols = {
            "k": fit.k_a + fit.k_b,
            "estimate": fit.estimate,
            "se": fit.se,
            "ci_low": fit.ci_low,
            "ci_high": fit.ci_high,
            "pval": fit.Q_between_pval,
            "tau2": np.full(len(units), np.nan),
            "I2": np.full(len(units), np.nan),
            "Q": fit.Q_between,
            "Q_pval": fit.Q_between_pval,
            "status": fit.status,
        }
        rows.append(_rows(units, "between_trial", model, "" if model == "fixed" else t, c, cols))
        z = float(distributions.norm_isf((1 - settings.level) / 2))
        for lv, k, e, s in (
            ("a", fit.k_a, fit.est_a, fit.se_a),
            ("b", fit.k_b, fit.est_b, fit.se_b),
        ):
            part = units.assign(model=model, which=lv, k=k, estimate=e, se=s)
            part["level"] = units[f"level_{lv}"]
            levels.append(part.assign(ci_low=e - z * s, ci_high=e + z * s))
    return rows, pd.concat(levels, ignore_index=True)


def interaction_tables(subgroups: pd.DataFrame, settings) -> dict[str, pd.DataFrame]:
    """``{"interactions", "interaction_studies", "interaction_levels"}`` from the validated
    subgroup rows (``analysis_id`` assigned; :mod:`trialmeta.inputs.subgroup_rows`)."""
    group_by = list(settings.group_by)
    empty_int = pd.DataFrame(columns=group_by + list(INTERACTION_COLUMNS))
    empty_st = pd.DataFrame(columns=["analysis_id", "subgroup_variable", *STUDY_COLUMNS])
    empty = {
        "interactions": empty_int,
        "interaction_studies": empty_st,
        "interaction_levels": pd.DataFrame(columns=["analysis_id", "subgroup_variable"]),
    }
    if subgroups is None or not len(subgroups):
        return empty
    effects = _primary_effects(subgroups, settings)
    units = _units(effects, settings)
    if not len(units):  # every variable has a single level: nothing to compare
        return empty
    long = _long(effects, units)
    studies = _study_table(long, units)
    between, levels = _between(long, units, settings)
    table = pd.concat(_within_rows(studies, units, settings) + between, ignore_index=True)
    keys = subgroups.drop_duplicates("analysis_id").set_index("analysis_id")[group_by]
    table = table.join(keys, on="analysis_id")
    table = with_exp(table, ["estimate", "ci_low", "ci_high"])
    table = table.assign(_m=(table["method"] != "within_trial").astype(int)).sort_values(
        ["analysis_id", "subgroup_variable", "level_b", "_m", "model"], kind="stable"
    )
    interactions = table[group_by + list(INTERACTION_COLUMNS)].reset_index(drop=True)
    studies_out = studies[["analysis_id", "subgroup_variable", *STUDY_COLUMNS]]
    levels = levels.join(keys, on="analysis_id")
    return {
        "interactions": interactions,
        "interaction_studies": studies_out.reset_index(drop=True),
        "interaction_levels": levels.reset_index(drop=True),
    }

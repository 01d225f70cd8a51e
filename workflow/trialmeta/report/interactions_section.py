"""Report section "Does the biomarker change the effect?" (issue 11) and the index overview of
every biomarker question of the run.

The section of an analysis shows, per subgroup variable and level pair: the within-trial
interaction (pooled by random and fixed effect, each trial's interaction), the between-trial
comparison (each level pooled across trials, their difference, the test for subgroup
differences), the ``biomarker_selected`` between-trial contrast when the subgroups table has it,
a plain-words reading of which comparison is the stronger evidence and whether they disagree, the
figure (:mod:`trialmeta.plots.interaction_forest`) and the ICEMAN table
(:mod:`trialmeta.tables.iceman`). Analyses with subgroup rows but no main analysis (no overall
rows: ``trialmeta.inputs.subgroup_rows``) get a page of their own, ``interactions/<id>.html``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from trialmeta.pipeline.jobs import replace_with_link, write_text
from trialmeta.plots.labels import format_effect, format_p, measure_info
from trialmeta.plots.names import INTERACTION_KEY as KEY
from trialmeta.plots.names import interaction_stem as figure_stem
from trialmeta.tables.iceman import ICEMAN_REFERENCE

__all__ = ["INTERACTION_TABLES", "interaction_entries", "interaction_overview"]

#: the tables of the interactions job the report reads (exploration dict keys)
INTERACTION_TABLES = (
    "interactions",
    "interaction_studies",
    "interaction_levels",
    "interaction_credibility",
)
STRONGER = (
    "The within-trial comparison is the stronger evidence: it compares biomarker-positive and "
    "biomarker-negative patients randomised in the same trial, so nothing that differs between "
    "trials (population, background therapy, outcome definition, era) can confound it. The "
    "between-trial comparison pools each level across trials and compares the pooled results; "
    "it mixes within- and between-trial information and is open to such confounding."
)


def _table(exploration: dict, name: str) -> pd.DataFrame:
    df = (exploration or {}).get(name)
    return df if isinstance(df, pd.DataFrame) else pd.DataFrame(columns=["analysis_id"])


def _nat(is_ratio, *values):
    return [math.exp(v) if is_ratio and v == v else v for v in values]


def _effect(row, is_ratio) -> str:
    est, lo, hi = _nat(
        is_ratio, float(row["estimate"]), float(row["ci_low"]), float(row["ci_high"])
    )
    return format_effect(est, lo, hi)


def _excludes_null(row) -> bool:
    lo, hi = float(row["ci_low"]), float(row["ci_high"])
    return lo == lo and hi == hi and (lo > 0 or hi < 0)


def _reading(w, b) -> str:
    """Which comparison is the stronger evidence and whether the two disagree."""
    k = int(w["k"]) if w["k"] == w["k"] else 0
    if k == 0:
        return (
            "No trial reports both levels: only the between-trial comparison is available, "
            "and it is open to confounding by trial-level differences."
        )
    text = STRONGER
    if k == 1:
        text += " Here a single trial reports both levels: its interaction is shown, not pooled."
    if b["estimate"] != b["estimate"]:
        return text
    same_sign = (w["estimate"] > 0) == (b["estimate"] > 0)
    if not same_sign or _excludes_null(w) != _excludes_null(b):
        how = (
            "point in opposite directions"
            if not same_sign
            else ("differ in whether their CI excludes no difference")
        )
        text += f" The two comparisons disagree: they {how}; rely on the within-trial estimate."
    else:
        text += " The two comparisons agree in direction."
    return text


def _unit_entry(key, rows, figure_names: set) -> dict:
    inter, studies, levels, cred = rows
    scale = str(inter["scale"].iloc[0])
    lv = levels[levels["model"] == "random"]
    measure = str(lv["measure"].iloc[0]) if len(lv) else ""
    name, is_ratio, _ = measure_info(measure, scale)
    what = f"ratio of {name.lower()}s" if is_ratio else f"difference of {name.lower()}s"
    get = {
        (m, mo): r for m, mo, r in zip(inter["method"], inter["model"], inter.to_dict("records"))
    }
    w, b = get[("within_trial", "random")], get[("between_trial", "random")]
    stem = figure_stem(*key)
    return {
        "variable": key[1],
        "level_a": key[2],
        "level_b": key[3],
        "measure_name": name,
        "what": what,
        "within": [
            {
                "model": "random effects" if mo == "random" else "fixed effect",
                "k": int(r["k"]) if r["k"] == r["k"] else 0,
                "effect": _effect(r, is_ratio),
                "p": format_p(r["pval"]),
                "het": ""
                if int(r["k"] or 0) < 2
                else f"Q = {r['Q']:.2f} ({format_p(r['Q_pval'])}), I² = {r['I2']:.0f}%"
                + (f", tau² = {r['tau2']:.3g}" if mo == "random" else ""),
                "method": f"{r['tau2_method']} {r['ci_method']}".strip(),
                "status": r["status"],
            }
            for mo, r in (("random", w), ("fixed", get[("within_trial", "fixed")]))
        ],
        "trials": [
            {
                "study_id": s["study_id"],
                "a": format_effect(
                    *_nat(
                        is_ratio,
                        s["yi_a"],
                        s["yi_a"] - 1.96 * math.sqrt(s["vi_a"]),
                        s["yi_a"] + 1.96 * math.sqrt(s["vi_a"]),
                    )
                ),
                "b": format_effect(
                    *_nat(
                        is_ratio,
                        s["yi_b"],
                        s["yi_b"] - 1.96 * math.sqrt(s["vi_b"]),
                        s["yi_b"] + 1.96 * math.sqrt(s["vi_b"]),
                    )
                ),
                "d": format_effect(
                    *_nat(
                        is_ratio,
                        s["d"],
                        s["d"] - 1.96 * math.sqrt(s["vd"]),
                        s["d"] + 1.96 * math.sqrt(s["vd"]),
                    )
                ),
            }
            for s in studies.to_dict("records")
        ],
        "levels": [
            {"level": r["level"], "k": int(r["k"]), "effect": _effect(r, is_ratio)}
            for r in lv.to_dict("records")
        ],
        "between": {
            "effect": _effect(b, is_ratio),
            "p": format_p(b["Q_pval"]),
            "Q": f"{b['Q']:.2f}" if b["Q"] == b["Q"] else "",
            "status": b["status"],
        },
        "reading": _reading(w, b),
        "iceman": cred[["item", "question", "answer", "source"]].to_dict("records"),
        "figure_svg": f"{stem}.svg" if f"{stem}.svg" in figure_names else None,
        "figure_png": f"{stem}.png" if f"{stem}.png" in figure_names else None,
    }


def _selected_records(exploration: dict) -> dict[str, list[dict]]:
    """analysis_id -> its ``biomarker_selected`` rows of the subgroups table (records, in table
    order), split once for all analyses; {} when the table lacks the contrast's columns."""
    sg = _table(exploration, "subgroups")
    needed = {"moderator", "measure", "scale", "level", "k", "estimate", "ci_low", "ci_high"}
    if not needed <= set(sg.columns) or "Q_between_pval" not in sg:
        return {}
    sel = sg[sg["moderator"] == "biomarker_selected"]
    # the columns _selected_contrast reads (one dict per row is kept until the report ends)
    shown = sel[sorted(needed - {"moderator"}) + ["Q_between_pval"]]
    by_aid: dict[str, list[dict]] = {}
    for aid, rec in zip(sel["analysis_id"].astype(str), shown.to_dict("records")):
        by_aid.setdefault(aid, []).append(rec)
    return by_aid


def interaction_index(exploration: dict) -> dict:
    """The interaction rows split by analysis once (a report has up to thousands of pages):
    ``interactions`` (analysis_id -> its rows) and ``selected`` (:func:`_selected_records`)."""
    inter = _table(exploration, "interactions")
    return {
        "interactions": _RowsOf(inter) if len(inter) else {},
        "selected": _selected_records(exploration),
    }


class _RowsOf(Mapping):
    """analysis_id -> its rows of ``df`` (in table order, as ``groupby``), taken when asked for:
    the report holds row positions, not one DataFrame per analysis (issue 16: memory)."""

    def __init__(self, df: pd.DataFrame):
        self._df = df
        self._positions = df.groupby(df["analysis_id"].astype(str), sort=False).indices

    def __getitem__(self, aid: str) -> pd.DataFrame:
        return self._df.take(self._positions[aid])

    def __iter__(self):
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)


def _selected_contrast(records: list[dict]) -> list[dict]:
    """The ``biomarker_selected`` between-trial contrast of one analysis (its records of
    :func:`_selected_records`; the first measure's rows), if any."""
    if not records:
        return []
    rows = [r for r in records if r["measure"] == records[0]["measure"]]
    is_ratio = str(rows[0]["scale"]) == "log"
    return [
        {
            "level": r["level"],
            "k": int(r["k"]),
            "effect": _effect(r, is_ratio),
            "p": format_p(r["Q_between_pval"]),
        }
        for r in rows
    ]


def interaction_entries(
    aid: str, exploration: dict, figure_names=(), fig_base: str = "../figures/", index=None
) -> dict | None:
    """The section context of one analysis (None when it has no interaction rows);
    ``fig_base``: the figures' location relative to the page; ``index``: the tables split by
    analysis (:func:`interaction_index`), made here when not given."""
    index = index if index is not None else interaction_index(exploration)
    mine = index["interactions"].get(aid)
    if mine is None:
        return None
    names = set(figure_names)
    parts = [_table(exploration, n) for n in INTERACTION_TABLES]
    units = []
    for key, g in mine.groupby(KEY, sort=True):
        rows = [g] + [
            p[(p[KEY] == pd.Series(key, index=KEY)).all(axis=1)] if len(p) else p for p in parts[1:]
        ]
        units.append(_unit_entry(key, rows, names))
    return {
        "units": units,
        "selected": _selected_contrast(index["selected"].get(aid)),
        "reference": ICEMAN_REFERENCE,
        "fig_base": fig_base,
    }


def interaction_overview(env, common, tables, figures_dir, out_dir) -> list[dict]:
    """The index rows of every biomarker question (analysis x variable x level pair); analyses
    without a page of their own (``tables.has(aid)`` False; ``tables``: the report's
    ``ReportTables``) get ``interactions/<aid>.html`` with their figures beside it."""
    exploration, has_page = tables.exploration, tables.has
    figure_dirs = [figures_dir] if isinstance(figures_dir, (str, Path)) else figures_dir or []
    inter, index = _table(exploration, "interactions"), tables.interaction_rows
    if not len(inter):
        return _selected_overview(index, tables)
    out_dir = Path(out_dir)
    figures = {p.name: p for d in figure_dirs for p in Path(d).glob("*.interaction-*")}
    overview, template = [], env.get_template("interactions/page.html.j2")
    for aid, g in inter.groupby("analysis_id", sort=True):
        page = f"analyses/{aid}.html" if has_page(aid) else f"interactions/{aid}.html"
        names = [n for n in sorted(figures) if n.startswith(f"{aid}.")]
        if not has_page(aid):
            for n in names:  # beside the page (figures/ keeps the main analyses' figures only)
                replace_with_link(figures[n], out_dir / "interactions" / n)
            section = interaction_entries(aid, exploration, names, fig_base="", index=index)
            labels = g.iloc[0].to_dict()
            html = template.render(a={"id": aid, **labels}, t=section, root="../", **common)
            write_text(html, out_dir / "interactions" / f"{aid}.html")
        for r in g[(g["method"] == "within_trial") & (g["model"] == "random")].to_dict("records"):
            is_ratio = r["scale"] == "log"
            overview.append(
                {
                    "page": page,
                    "outcome": r.get("outcome", ""),
                    "therapy": r.get("therapy_class", r.get("therapy", "")),
                    "condition": r.get("condition", ""),
                    "variable": r["subgroup_variable"],
                    "levels": f"{r['level_a']} vs {r['level_b']}",
                    "k": int(r["k"]),
                    "effect": _effect(r, is_ratio),
                    "p": format_p(r["pval"]),
                    "between": False,
                }
            )
    return overview + _selected_overview(index, tables)


def _selected_overview(index: dict, tables) -> list[dict]:
    """Index rows of the ``biomarker_selected`` between-trial contrasts (two or more levels;
    ``index``: :func:`interaction_index`)."""
    rows = []
    for aid, records in sorted(index["selected"].items()):
        levels = _selected_contrast(records)
        if len(levels) < 2 or not tables.has(aid):
            continue
        first = tables.first_trial(aid)
        rows.append(
            {
                "page": f"analyses/{aid}.html",
                "outcome": first.get("outcome", aid),
                "therapy": first.get("therapy_class", first.get("therapy", "")),
                "condition": first.get("condition", ""),
                "variable": "biomarker_selected (between trials only)",
                "levels": " vs ".join(str(x["level"]) for x in levels),
                "k": sum(x["k"] for x in levels),
                "effect": "; ".join(f"{x['level']}: {x['effect']}" for x in levels),
                "p": levels[0]["p"],
                "between": True,
            }
        )
    return rows

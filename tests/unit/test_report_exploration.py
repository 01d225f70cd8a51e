"""Exploration sections of the report: each analysis page shows the exploration figures (rendered as
the figure jobs do), a plain-language sentence per result and the "why not" text where a method
did not run; the shipped biomarker_selected subgroup analysis carries the data README's caveat.

Data: the shipped trials plus dat.bcg (13 trials: the only analysis with k >= 10, so the only
funnel plot), through the real engine (validate -> effect sizes -> pool -> exploration tables ->
figures -> report). Expected sentences are built from the tables, not typed in.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from helpers.report_html import check_offline, parse
from helpers.report_tables import EXPL_CONFIG
from helpers.svg_safety import svg_text
from trialmeta.plots.labels import format_effect, format_p
from trialmeta.plots.names import exploration_stem, moderator_token, split_figure_name
from trialmeta.report import build_report, safe_http_url
from trialmeta.report import text as tx
from trialmeta.report.build import CSP


def page(built, key):
    aid = built[key]
    path = built["out"] / "analyses" / f"{aid}.html"
    return aid, path.read_text(encoding="utf-8"), parse(path)


def text_of(p):
    return re.sub(r"\s+", " ", " ".join(p.text))


def section_html(html, sid):
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def imgs(p):
    return [a["src"] for t, a in p.tags if t == "img"]


# ------------------------------------------------------------------------------------------ figures
def test_figure_files_per_analysis(built):
    names = {p.name for p in built["written"]}
    bcg, intra = built["bcg"], built["intralipid"]
    for kind, mod in (
        ("funnel", None),
        ("leave_one_out", None),
        ("cumulative", None),
        ("bubble", "year"),
        ("bubble", "ablat"),
        ("subgroups", "biomarker_selected"),
        ("subgroups", "alloc"),
    ):
        for ext in ("svg", "png"):
            assert f"{exploration_stem(bcg, kind, mod)}.{ext}" in names, (kind, mod, ext)
    # the shipped data: only the intralipid analysis has two biomarker_selected levels; k = 2, so
    # no leave-one-out, cumulative or bubble plot; no analysis reaches k = 10 (no funnel plot)
    assert {split_figure_name(n)[1] for n in names if n.startswith(intra + ".")} == {
        "subgroups-biomarker_selected"
    }
    shipped = set(built["ids"]) - {bcg}
    assert not [
        n
        for n in names
        if split_figure_name(n)[0] in shipped and split_figure_name(n)[1] == "funnel"
    ]
    # every file is a real image, and the report copied every one of them
    for p in built["written"]:
        data = p.read_bytes()
        assert data.startswith(b"\x89PNG") if p.suffix == ".png" else data.startswith(b"<?xml")
        assert (built["out"] / "figures" / p.name).read_bytes() == data


def test_moderator_tokens_are_safe_and_distinct():
    toks = {moderator_token(m) for m in ("a b", "a_b", "a/b", "../x", "a.b", "ok_name-1")}
    assert len(toks) == 6 and all(re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in toks)
    assert moderator_token("ok_name-1") == "ok_name-1"
    assert split_figure_name(exploration_stem("x-0123", "bubble", "a.b") + ".svg")[0] == "x-0123"


# ------------------------------------------------------------------------------------------ subgroups
def _expected_subgroup_parts(tables, aid, mod, measure="RR"):
    rows = tables["subgroups"]
    rows = rows[(rows.analysis_id == aid) & (rows.measure == measure) & (rows.moderator == mod)]
    eff = {
        str(r.level): format_effect(np.exp(r.estimate), np.exp(r.ci_low), np.exp(r.ci_high))
        for r in rows.itertuples()
    }
    return rows, eff, format_p(rows["Q_between_pval"].iloc[0])


def test_shipped_biomarker_subgroup_with_caveat(built):
    aid, html, p = page(built, "intralipid")
    sec = section_html(html, "subgroups")
    rows, eff, qp = _expected_subgroup_parts(built["tables"], aid, "biomarker_selected")
    assert set(eff) == {"true", "false"} and rows["k"].tolist() == [1, 1]
    text = text_of(p)
    assert (
        f"Biomarker-selected trials: RR {eff['true']} (1 trial, not pooled); not biomarker-selected: "
        f"RR {eff['false']} (1 trial, not pooled); test for subgroup differences {qp}."
    ) in text
    # data/README.md: "contrasts one NK-selected trial with one unselected trial. This is a
    # demonstration contrast, not a powered subgroup analysis."
    assert (
        "This comparison rests on few trials (1 biomarker-selected trial vs 1 trial not biomarker-selected): "
        "a demonstration contrast, not a powered subgroup analysis."
    ) in text
    assert 'class="badge"' in sec
    src = f"../figures/{exploration_stem(aid, 'subgroups', 'biomarker_selected')}.svg"
    assert src in imgs(p)
    assert "Test for subgroup differences" in sec
    # the index gathers the subgroup results of every analysis
    index = (built["out"] / "index.html").read_text(encoding="utf-8")
    assert f"analyses/{aid}.html#subgroups" in index and "demonstration contrast" in index


def test_subgroup_without_two_levels_says_why(built):
    aid, html, p = page(built, "tocilizumab")
    sec = section_html(html, "subgroups")
    assert "biomarker_selected: every trial with a value has biomarker_selected = false" in sec
    assert "alloc: not given for any trial of this analysis" in sec
    assert not [s for s in imgs(p) if ".subgroups-" in s]


def test_bcg_subgroups_and_metaregression(built):
    aid, html, p = page(built, "bcg")
    text = text_of(p)
    rows, eff, qp = _expected_subgroup_parts(built["tables"], aid, "biomarker_selected")
    k = dict(zip(rows.level.astype(str), rows.k.astype(int)))
    assert (
        f"Biomarker-selected trials: RR {eff['true']} (k = {k['true']}); not biomarker-selected: "
        f"RR {eff['false']} (k = {k['false']}); test for subgroup differences {qp}."
    ) in text
    alloc = built["tables"]["subgroups"]
    alloc = alloc[
        (alloc.analysis_id == aid) & (alloc.measure == "RR") & (alloc.moderator == "alloc")
    ]
    assert tx.subgroup_sentence(alloc, "RR", "log") in text
    # meta-regression: sentence from the table, bubble plot per moderator
    mr = built["tables"]["metaregression"]
    for mod in ("year", "ablat"):
        rows = mr[(mr.analysis_id == aid) & (mr.measure == "RR") & (mr.moderator == mod)]
        assert tx.metaregression_sentence(rows, "RR", "log") in text
        assert f"../figures/{exploration_stem(aid, 'bubble', mod)}.svg" in imgs(p)
    assert "Coefficients are on the log RR scale" in text


# ------------------------------------------------------------------------------------------ sensitivity
def test_leave_one_out_cumulative_influence(built):
    aid, html, p = page(built, "bcg")
    text = text_of(p)
    for kind in ("leave_one_out", "cumulative"):
        assert f"../figures/{exploration_stem(aid, kind)}.svg" in imgs(p)
    t = built["tables"]
    loo = t["leave_one_out"][
        (t["leave_one_out"].analysis_id == aid) & (t["leave_one_out"].measure == "RR")
    ]
    assert (
        tx.leave_one_out_sentence(loo.reset_index(drop=True), "RR", "log")
        .split(" No single")[0]
        .split(" Omitting")[0]
        in text
    )
    cum = t["cumulative"][(t["cumulative"].analysis_id == aid) & (t["cumulative"].measure == "RR")]
    assert tx.cumulative_sentence(cum, "RR", "log") in text
    inf = t["influence"][(t["influence"].analysis_id == aid) & (t["influence"].measure == "RR")]
    assert tx.influence_sentence(inf).replace("'", "&#39;") in html
    # k = 2: the tables are shown, the plots are not, and the page says why
    aid2, html2, p2 = page(built, "intralipid")
    assert "With 2 trials, leaving one out leaves a single trial" in section_html(
        html2, "leave_one_out"
    )
    assert "no cumulative plot is drawn" in section_html(html2, "cumulative")
    assert "add nothing to the forest plot" in section_html(html2, "influence")
    assert not [s for s in imgs(p2) if ".leave_one_out" in s or ".cumulative" in s]


def test_estimator_matrix_summary_and_flag(built):
    from trialmeta.stats.sensitivity import estimator_disagreement

    pooled = built["pooled"]
    d = estimator_disagreement(pooled[pooled.model == "random"])
    prim = d[d.measure == "RR"].set_index("analysis_id")
    flagged = [a for a in prim.index if prim.loc[a, "disagree"]]
    agree = [a for a in prim.index if not prim.loc[a, "disagree"]]
    assert flagged and agree, "the data must exercise both cases"
    for aid in flagged:
        sec = section_html(
            (built["out"] / "analyses" / f"{aid}.html").read_text(encoding="utf-8"), "sensitivity"
        )
        assert "RR: conclusions depend on the method" in sec and 'class="badge"' in sec
        methods = prim.loc[aid, "methods_significant"].split(";")
        minority = (
            methods
            if len(methods) <= prim.loc[aid, "n_methods"] / 2
            else prim.loc[aid, "methods_not_significant"].split(";")
        )
        assert ", ".join(minority) in sec
    for aid in agree:
        sec = section_html(
            (built["out"] / "analyses" / f"{aid}.html").read_text(encoding="utf-8"), "sensitivity"
        )
        assert re.search(r"RR: the CI (ex|in)cludes no effect under all \d+ tau", sec)
    index = (built["out"] / "index.html").read_text(encoding="utf-8")
    for aid in flagged:
        assert f"analyses/{aid}.html#sensitivity" in index


# ------------------------------------------------------------------------------------------ small-study
def test_funnel_and_small_study_sentence_where_k_ge_10(built):
    aid, html, p = page(built, "bcg")
    sec = section_html(html, "small_study")
    assert f"../figures/{exploration_stem(aid, 'funnel')}.svg" in imgs(p)
    ss = built["tables"]["small_study"]
    row = ss[(ss.analysis_id == aid) & (ss.measure == "RR")].iloc[0]
    assert row["k"] == 13 and not row["reason"]
    sentence = tx.small_study_sentence(row, "RR", "log")
    assert sentence.replace("'", "&#39;") in sec
    assert "Trim-and-fill imputes" in sentence and format_p(row["egger_rma_pval"]) in sentence
    assert "Contour-enhanced funnel plot" in sec


def test_why_not_where_k_lt_10(built):
    ss = built["tables"]["small_study"]
    for aid in set(built["ids"]) - {built["bcg"]}:
        html = (built["out"] / "analyses" / f"{aid}.html").read_text(encoding="utf-8")
        sec = section_html(html, "small_study")
        k = int(ss.loc[(ss.analysis_id == aid), "k"].iloc[0])
        assert f"Small-study tests not run: k = {k} &lt; 10: too few studies" in sec
        assert "No funnel plot is drawn." in sec and "<img" not in sec
    index = (built["out"] / "index.html").read_text(encoding="utf-8")
    assert "1 of 17 analyses have enough trials for small-study tests" in index


def test_small_study_min_k_from_config(built):
    """small_study_min_k decides where the funnel plot is drawn (13 trials: drawn at 10, not at 14)."""
    from trialmeta.plots.exploration_figures import analysis_exploration_figures
    from trialmeta.tables.exploration import small_study_table

    aid = built["bcg"]
    sel = lambda df: df[df.analysis_id == aid]  # noqa: E731
    tables = {
        n: sel(built["tables"][n])
        for n in ("subgroups", "metaregression", "leave_one_out", "cumulative", "small_study")
    }
    args = (aid, sel(built["pooled"]), sel(built["studies"]), sel(built["trials"]))
    stems = [s for s, _ in analysis_exploration_figures(*args, tables, EXPL_CONFIG)]
    assert exploration_stem(aid, "funnel") in stems
    tables["small_study"] = small_study_table(sel(built["effects"]), min_k=14)
    assert tables["small_study"]["reason"].str.startswith("k = 13 < 14").all()
    stems = [
        s
        for s, _ in analysis_exploration_figures(
            *args, tables, dict(EXPL_CONFIG, small_study_min_k=14)
        )
    ]
    assert (
        exploration_stem(aid, "funnel") not in stems
        and exploration_stem(aid, "leave_one_out") in stems
    )


def test_sparse_panel_section(built):
    sp = built["tables"]["sparse_binary"]
    aids = sorted(set(sp.analysis_id))
    assert aids, "the shipped data has a zero cell (FEATURE placebo 0/59)"
    html = (built["out"] / "analyses" / f"{aids[0]}.html").read_text(encoding="utf-8")
    sec = section_html(html, "sparse_binary")
    assert tx.sparse_sentence(sp[sp.analysis_id == aids[0]]) in sec
    assert "Peto OR" in sec and "Mantel-Haenszel OR, no continuity correction" in sec


# ------------------------------------------------------------------------------------------ safety
def test_pages_offline_no_script(built):
    out = built["out"]
    allowed = {
        u for u in built["trials"].get("source_url", pd.Series(dtype=object)) if safe_http_url(u)
    }
    check_offline(out, allowed)
    for path in [out / "index.html"] + sorted((out / "analyses").glob("*.html")):
        html = path.read_text(encoding="utf-8")
        p = parse(path)
        assert [a["content"] for t, a in p.tags if t == "meta" and a.get("http-equiv")] == [CSP]
        assert not [t for t, _ in p.tags if t in ("script", "iframe", "object", "embed")]
        assert "<style" not in html.lower() and not [
            a for _, a in p.tags for k in a if k == "style"
        ]
    methods = text_of(parse(out / "analyses" / f"{built['bcg']}.html"))
    assert (
        "Subgroup analyses by biomarker_selected, alloc" in methods and "trim-and-fill" in methods
    )


def test_config_options_reach_the_sentences(built):
    """subgroup_common_tau2 and metaregression_test change the tables and the page says which."""
    from trialmeta.report.exploration_sections import exploration_context
    from trialmeta.tables import exploration as ex

    aid = built["bcg"]
    eff = built["effects"][built["effects"].analysis_id == aid]
    trials = built["trials"][built["trials"].analysis_id == aid]
    cfg = dict(EXPL_CONFIG, subgroup_common_tau2=True, metaregression_test="knha")
    tables = {
        "subgroups": ex.subgroups_table(eff, trials, ["alloc"], common_tau2=True),
        "metaregression": ex.metaregression_table(eff, trials, ["ablat"], test="knha"),
    }
    ctx = exploration_context(aid, "RR", "log", 13, tables, {}, cfg, trials)
    (sub,) = [e for e in ctx["subgroups"]["entries"] if e["title"] == "By alloc"]
    assert "one tau\u00b2 shared by all subgroups" in " ".join(sub["sentences"])
    (mr,) = ctx["metaregression"]["entries"]
    assert "Knapp-Hartung" in " ".join(mr["sentences"]) and mr["figure"] is None  # no figure given
    default = exploration_context(
        aid,
        "RR",
        "log",
        13,
        {"metaregression": ex.metaregression_table(eff, trials, ["ablat"])},
        {},
        EXPL_CONFIG,
        trials,
    )
    assert "Knapp-Hartung" not in " ".join(default["metaregression"]["entries"][0]["sentences"])
    # biomarker_selected is configured but absent from these tables: the page says nothing false
    assert ctx["subgroups"]["notes"] == []


def test_exploration_report_is_byte_identical_on_rebuild(built, tmp_path):
    """Same tables and figures -> same report bytes (pages, figures, CSS)."""
    import hashlib

    again = tmp_path / "report"
    build_report(
        built["pooled"],
        built["studies"],
        built["trials"],
        EXPL_CONFIG,
        [],
        built["figs"],
        again,
        {},
        exploration=built["tables"],
    )

    def digest(root):
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(built["out"]) == digest(again)


def test_hostile_labels_in_exploration_figures_and_sections(built, tmp_path):
    """Study labels and moderator levels from the data reach the figures only as outlines and the
    page only escaped."""
    from helpers.report_tables import HOSTILE
    from trialmeta.plots.exploration_figures import render_exploration_figures
    from trialmeta.tables import exploration as ex

    aid = built["bcg"]
    trials = built["trials"][built["trials"].analysis_id == aid].copy()
    effects = built["effects"][built["effects"].analysis_id == aid].copy()
    bad = [HOSTILE["script"], HOSTILE["img"], HOSTILE["rtl"]]
    trials["alloc"] = [bad[i % 3] for i in range(len(trials))]
    names = {old: f"{HOSTILE['svg']} {i}" for i, old in enumerate(trials["study_id"])}
    trials["study_id"] = trials["study_id"].map(names)
    effects["study_id"] = effects["study_id"].map(names)
    tables = {
        "subgroups": ex.subgroups_table(effects, trials, ["alloc"]),
        "metaregression": ex.metaregression_table(effects, trials, ["alloc"]),
        "leave_one_out": ex.leave_one_out_table(effects),
        "cumulative": ex.cumulative_table(effects, trials),
        "small_study": ex.small_study_table(effects),
    }
    pooled = built["pooled"][built["pooled"].analysis_id == aid]
    studies = built["studies"][built["studies"].analysis_id == aid].copy()
    studies["study_id"] = studies["study_id"].map(names)
    cfg = dict(EXPL_CONFIG, subgroups=["alloc"], metaregression=["alloc"])
    paths = render_exploration_figures(
        pooled, studies, trials, tables, cfg, tmp_path / "fig", [aid]
    )
    kinds = {split_figure_name(p.name)[1] for p in paths}
    assert kinds == {"subgroups-alloc", "bubble-alloc", "leave_one_out", "cumulative", "funnel"}
    for p in paths:
        if p.suffix == ".svg":
            svg_text(p.read_bytes())  # hostile labels only as escaped text (helpers/svg_safety.py)
    out = tmp_path / "report"
    build_report(pooled, studies, trials, cfg, [], tmp_path / "fig", out, {}, exploration=tables)
    html = (out / "analyses" / f"{aid}.html").read_text(encoding="utf-8")
    assert (
        "<script" not in html.lower()
        and "&lt;script&gt;alert(&#39;xss-script&#39;)&lt;/script&gt;" in html
    )
    assert "<img src=x" not in html and "<svg" not in html.lower()

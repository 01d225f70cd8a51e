"""The offline HTML report: structure, escaping, CSP, offline links, warnings, determinism."""

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

import trialmeta.report.build as report_build
from helpers.report_html import all_pages, check_offline, parse
from helpers.report_tables import (
    CONFIG,
    HOSTILE,
    engine_tables,
    hostile_trials,
    load_shipped_trials,
)
from trialmeta.inputs.errors import Problem
from trialmeta.plots.forest import render_forest_plots
from trialmeta.report import build_report, index_page, safe_http_url
from trialmeta.report.build import CSP, EXPLORATION_SECTIONS
from trialmeta.report.index_page import group_anchor, index_columns, natural_key

PROVENANCE = {
    "git_commit": "0" * 40,
    "command": "snakemake --cores 2",
    "inputs": {"data/trials/immunotherapy_trials.csv": "ab" * 32},
    "versions": {"trialmeta": "0.1.0"},
}


def build(
    tmp: Path,
    trials,
    pooled,
    studies,
    warnings=(),
    exploration=None,
    figures=True,
    ids=None,
    fig_dir=None,
    template_cache_dir=None,
):
    fig_dir = fig_dir or tmp / "figures_src"
    if figures and fig_dir == tmp / "figures_src":
        render_forest_plots(
            pooled,
            studies,
            trials,
            CONFIG,
            fig_dir,
            ids if ids is not None else sorted(set(pooled.analysis_id)),
        )
    out = tmp / "report"
    build_report(
        pooled,
        studies,
        trials,
        CONFIG,
        list(warnings),
        fig_dir,
        out,
        PROVENANCE,
        exploration=exploration,
        template_cache_dir=template_cache_dir,
    )
    return out


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    trials, warnings = load_shipped_trials()
    pooled, studies, engine = engine_tables(trials)
    row = trials.iloc[0]
    warns = list(warnings) + [
        Problem(
            str(row["source_file"]),
            int(row["source_row"]),
            "sd_treat",
            "looks like a standard error",
            "0.4",
            "warning",
        ),
        Problem(
            "data/trials/other.csv", None, None, "general <b>warning</b> text", None, "warning"
        ),
    ]
    tmp = tmp_path_factory.mktemp("report")
    out = build(tmp, trials, pooled, studies, warns)
    return {
        "trials": trials,
        "pooled": pooled,
        "studies": studies,
        "out": out,
        "tmp": tmp,
        "warnings": warns,
        "row": row,
    }


# ------------------------------------------------------------------------- structure
def test_files_and_index_structure(shipped):
    out, pooled = shipped["out"], shipped["pooled"]
    ids = sorted(set(pooled.analysis_id))
    assert len(ids) == 16
    assert sorted(p.stem for p in (out / "analyses").glob("*.html")) == ids
    assert (out / "static" / "report.css").is_file()
    for aid in ids:
        assert (out / "figures" / f"{aid}.svg").is_file() and (
            out / "figures" / f"{aid}.png"
        ).is_file()
    idx = parse(out / "index.html")
    links = [a["href"] for t, a in idx.tags if t == "a" and "href" in a]
    for aid in ids:
        assert f"analyses/{aid}.html" in links
    rows = [a for t, a in idx.tags if t == "tr"]
    assert len(rows) >= 1 + 16
    html = (out / "index.html").read_text()
    for word in (
        "Pooled effect",
        "95% PI",
        "I&sup2;",
        "tau&sup2;",
        "Status",
        "Warnings",
        "Methods",
        "Provenance",
    ):
        assert word in html


def test_analysis_page_content(shipped):
    out, pooled, trials = shipped["out"], shipped["pooled"], shipped["trials"]
    aid = shipped["row"]["analysis_id"]
    page = out / "analyses" / f"{aid}.html"
    html = page.read_text()
    p = parse(page)
    ids = {a.get("id") for _, a in p.tags if a.get("id")}
    assert {"forest", "studies", "sensitivity", "warnings", "methods"} <= ids
    imgs = [a for t, a in p.tags if t == "img"]
    assert (
        imgs
        and imgs[0]["src"] == f"../figures/{aid}.svg"
        and imgs[0]["alt"].startswith("Forest plot")
    )
    # every study with its source link; every pooled row of the analysis as a sensitivity row
    for sid in trials.loc[trials.analysis_id == aid, "study_id"]:
        assert sid in html
    n_sens = len(pooled[pooled.analysis_id == aid])
    assert html.count("<tr") >= n_sens + len(trials[trials.analysis_id == aid]) + 2
    assert "(primary)" in html
    for url in trials.loc[trials.analysis_id == aid, "source_url"]:
        if safe_http_url(url):
            assert any(
                t == "a" and a.get("href") == url and a.get("rel") == "noopener noreferrer"
                for t, a in p.tags
            )
    # methods paragraph says what was computed
    text = " ".join(p.text)
    assert "restricted maximum likelihood" in text and "Hartung-Knapp-Sidik-Jonkman" in text
    assert "prediction interval" in text and "0.5 was added" in text and "DerSimonian" in text
    # plain-language summary
    assert re.search(r"In \d+ trials .* the pooled risk ratio", text)


def test_warnings_attached_to_their_analysis(shipped):
    out, row = shipped["out"], shipped["row"]
    page = (out / "analyses" / f"{row['analysis_id']}.html").read_text()
    assert "looks like a standard error" in page
    other = [p for p in (out / "analyses").glob("*.html") if p.stem != row["analysis_id"]]
    assert all("looks like a standard error" not in p.read_text() for p in other)
    index = (out / "index.html").read_text()
    assert "general &lt;b&gt;warning&lt;/b&gt; text" in index and "<b>warning</b>" not in index


# ------------------------------------------------------------------------- security / offline
def test_csp_and_no_script_anywhere(shipped):
    for page in all_pages(shipped["out"]):
        html = page.read_text()
        p = parse(page)
        metas = [
            a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
        ]
        assert len(metas) == 1 and metas[0]["content"] == CSP
        assert "default-src 'none'" in CSP and "img-src 'self'" in CSP and "style-src 'self'" in CSP
        assert "script-src" not in CSP and "unsafe-inline" not in CSP
        assert not [
            t for t, _ in p.tags if t in ("script", "iframe", "object", "embed", "form", "base")
        ]
        assert not [a for _, a in p.tags for k in a if k.startswith("on") or k == "style"]
        assert "<style" not in html.lower()


def test_offline_only_source_links_external(shipped):
    allowed = {u for u in shipped["trials"]["source_url"] if safe_http_url(u)}
    check_offline(shipped["out"], allowed)


def _digest(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_deterministic_bytes(shipped, tmp_path):
    out1 = shipped["out"]
    out2 = build(
        tmp_path,
        shipped["trials"],
        shipped["pooled"],
        shipped["studies"],
        shipped["warnings"],
        fig_dir=shipped["tmp"] / "figures_src",
    )

    assert _digest(out1) == _digest(out2)
    assert not [p for p in out1.rglob(".*")]  # no temp files left


def test_compiled_templates_kept_between_builds_give_the_same_pages(shipped, tmp_path):
    """The report job keeps Jinja2's compiled templates between runs (template_cache_dir): a
    build that compiles them into the cache and one that loads them from it write the same bytes
    as a build without a cache; a changed template is compiled again (keyed by its source)."""
    args = (shipped["trials"], shipped["pooled"], shipped["studies"], shipped["warnings"])
    cache = tmp_path / "templates"
    cold = build(
        tmp_path / "cold", *args, fig_dir=shipped["tmp"] / "figures_src", template_cache_dir=cache
    )
    compiled = sorted(p.name for p in cache.iterdir())
    assert len(compiled) >= 5 and not [n for n in compiled if n.endswith(".tmp")]
    stamps = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    warm = build(
        tmp_path / "warm", *args, fig_dir=shipped["tmp"] / "figures_src", template_cache_dir=cache
    )
    assert {
        p.name: p.stat().st_mtime_ns for p in cache.iterdir()
    } == stamps  # loaded, not rewritten
    assert _digest(cold) == _digest(shipped["out"]) == _digest(warm)
    env = report_build._environment(cache)
    source, _, _ = env.loader.get_source(env, "base.html.j2")
    bucket = env.bytecode_cache.get_bucket(env, "base.html.j2", None, source + "<!-- edited -->")
    assert bucket.code is None  # another source: not served the old compiled code


@pytest.mark.parametrize(
    "url,ok",
    [
        ("https://pmc.ncbi.nlm.nih.gov/articles/PMC1/", True),
        ("http://x.org/a?b=1&c=2", True),
        ("javascript:alert(1)", False),
        ("JaVaScRiPt:alert(1)", False),
        (" javascript:alert(1)", False),
        ("data:text/html,<script>", False),
        ("//evil.example/x", False),
        ("file:///etc/passwd", False),
        ("https://ok.example.org/a?b=<2>", False),
        ('https://x.org/"onmouseover="a', False),
        ("https://", False),
        ("vbscript:x", False),
        ("https://x.org/\u202e", True),
        (None, False),
        (float("nan"), False),
    ],
)
def test_safe_http_url(url, ok):
    assert (safe_http_url(url) is not None) is ok


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    trials, _ = load_shipped_trials()
    bad = hostile_trials(trials)
    pooled, studies, _ = engine_tables(bad)
    ids = sorted(bad.analysis_id.unique())
    pick = [ids[0], ids[-1]]
    warns = [
        Problem(
            str(r.source_file),
            int(r.source_row),
            "notes",
            HOSTILE["script"] + HOSTILE["formula"],
            HOSTILE["img"],
            "warning",
        )
        for r in bad[bad.analysis_id.isin(pick)].itertuples()
    ]
    tmp = tmp_path_factory.mktemp("hostile")
    out = build(tmp, bad, pooled, studies, warns, ids=pick)
    return {"out": out, "trials": bad, "ids": pick}


def test_hostile_labels_escaped(hostile):
    out = hostile["out"]
    all_hrefs = []
    for aid in hostile["ids"]:
        page = out / "analyses" / f"{aid}.html"
        html = page.read_text(encoding="utf-8")
        p = parse(page)
        assert "<script" not in html.lower()
        assert "&lt;script&gt;alert(&#39;xss-script&#39;)&lt;/script&gt;" in html
        assert "<img src=x" not in html and "&lt;img src=x onerror=" in html
        assert "<svg" not in html.lower()
        assert not [a for _, a in p.tags for k in a if k.startswith("on")]
        hrefs = [a.get("href", "") for t, a in p.tags if t == "a"]
        assert not [
            h
            for h in hrefs
            if not (h.startswith(("../", "#", "https://", "http://")) or h.endswith(".html"))
        ]
        assert not [
            h for h in hrefs if "javascript" in h.lower() or h.startswith(("data:", "//", "file:"))
        ]
        all_hrefs += hrefs
        text = "".join(p.text)
        assert HOSTILE["formula"] in text  # shown as text, not evaluated
        assert "{{ 7*7 }} {% raw %} ${7*7}" in text  # no template evaluation
        assert "**bold**" in text  # markdown not rendered
        assert "\u202eevil" in text and html.count("<bdi>") > 10  # RTL text isolated
        assert "L" * 4001 not in html  # very long strings cut (notes <= 4000)
        title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
        assert "L" * 300 not in title and "\u2026" in title  # labels <= 300 characters
    assert "https://ok.example.org/trial" in all_hrefs  # the one good source link survives
    assert (out / "index.html").read_text(encoding="utf-8").count("&lt;script&gt;") >= 2
    allowed = {u for u in hostile["trials"]["source_url"] if safe_http_url(u)}
    assert (
        "https://ok.example.org/a?b=1&c=<2>" not in allowed
        and "https://ok.example.org/trial" in allowed
    )
    check_offline(out, allowed)
    # nothing was written outside the report folder, whatever the labels said
    assert sorted(p.name for p in out.parent.iterdir()) == ["figures_src", "report"]


def test_unsafe_analysis_id_rejected_and_previous_report_kept(shipped, tmp_path):
    out = build(tmp_path, shipped["trials"], shipped["pooled"], shipped["studies"], figures=False)
    before = (out / "index.html").read_bytes()
    for bad in ("../../escape", "a/b", "..", "x\\y", ".hidden", "a" * 300):
        pooled = shipped["pooled"].copy()
        pooled.loc[pooled.index[0], "analysis_id"] = bad
        with pytest.raises(ValueError):
            build_report(
                pooled, shipped["studies"], shipped["trials"], CONFIG, [], tmp_path / "nofig", out
            )
        assert (out / "index.html").read_bytes() == before
    assert not (tmp_path.parent / "escape.html").exists()


def test_exploration_sections_placeholders(shipped, tmp_path):
    aid = shipped["row"]["analysis_id"]
    expl = {
        "subgroups": pd.DataFrame(
            {
                "analysis_id": [aid, aid, "other"],
                "measure": ["RR"] * 3,
                "moderator": ["biomarker_selected"] * 3,
                "level": ["true", "<i>x</i>", "z"],
                "k": [2, 1, 5],
                "estimate": [0.1234567, float("nan"), 1.0],
            }
        )
    }
    out = build(
        tmp_path,
        shipped["trials"],
        shipped["pooled"],
        shipped["studies"],
        exploration=expl,
        figures=False,
    )
    html = (out / "analyses" / f"{aid}.html").read_text()
    assert 'id="subgroups"' in html and "biomarker_selected" in html and "0.1235" in html
    assert "&lt;i&gt;x&lt;/i&gt;" in html and "<i>x</i>" not in html
    assert 'id="metaregression"' not in html  # sections without rows are not shown
    templates = (
        Path(__import__("trialmeta.report.build", fromlist=["x"]).__file__).parent
        / "templates"
        / "sections"
    )
    assert sorted(p.name for p in templates.glob("*.html.j2")) == sorted(
        f"{k}.html.j2" for k, _ in EXPLORATION_SECTIONS
    )


def test_rebuild_removes_pages_of_vanished_analyses(shipped, tmp_path):
    ids = sorted(set(shipped["pooled"].analysis_id))
    out = build(
        tmp_path,
        shipped["trials"],
        shipped["pooled"],
        shipped["studies"],
        figures=False,
        fig_dir=shipped["tmp"] / "figures_src",
    )
    assert (
        len(list((out / "analyses").glob("*.html"))) == 16
        and (out / "figures" / f"{ids[0]}.svg").exists()
    )
    keep = ids[1:]
    build_report(
        shipped["pooled"][shipped["pooled"].analysis_id.isin(keep)],
        shipped["studies"][shipped["studies"].analysis_id.isin(keep)],
        shipped["trials"],
        CONFIG,
        [],
        shipped["tmp"] / "figures_src",
        out,
    )
    assert sorted(p.stem for p in (out / "analyses").glob("*.html")) == keep
    assert (
        not (out / "figures" / f"{ids[0]}.svg").exists()
        and (out / "figures" / f"{ids[1]}.svg").exists()
    )
    assert f"analyses/{ids[0]}.html" not in (out / "index.html").read_text()


# ------------------------------------------------------------------------- the index: grouping
def test_natural_key_sorts_numbers_as_numbers():
    names = ["drug 100", "Drug 2", "drug 19", "drug", "drug 2a", "Drug 10 mg", "drug 9 mg"]
    assert sorted(names, key=natural_key) == [
        "drug",
        "Drug 2",
        "drug 2a",
        "drug 9 mg",
        "Drug 10 mg",
        "drug 19",
        "drug 100",
    ]
    assert sorted(["b", "B", "a"], key=natural_key) == ["a", "B", "b"]  # ties by exact text


@pytest.mark.parametrize(
    "group_by, heads, columns",
    [
        (
            ["therapy_class", "comparator", "condition", "outcome", "outcome_type"],
            ["condition", "therapy_class"],
            ["comparator", "outcome", "outcome_type"],
        ),
        (
            ["therapy", "comparator", "condition", "outcome"],
            ["condition", "therapy"],
            ["comparator", "outcome"],
        ),
        (["comparator", "intervention", "outcome"], ["intervention", "comparator"], ["outcome"]),
        (["outcome", "condition"], ["condition"], ["outcome"]),
        (["outcome"], [], ["outcome"]),
    ],
)
def test_index_columns_condition_then_therapy_then_rest(group_by, heads, columns):
    assert index_columns(group_by) == (heads, columns)


def _ids_and_links(page):
    ids = {a["id"] for _, a in page.tags if "id" in a}
    hrefs = [a["href"] for t, a in page.tags if t == "a" and "href" in a]
    return ids, hrefs


def test_index_grouped_with_toc_counts_and_keys(shipped):
    out, trials = shipped["out"], shipped["trials"]
    html = (out / "index.html").read_text()
    page = parse(out / "index.html")
    ids, hrefs = _ids_and_links(page)
    # every in-page link (the table of contents) resolves to an element of the page
    local = [h[1:] for h in hrefs if h.startswith("#")]
    assert local and all(h in ids for h in local)
    keys = trials.drop_duplicates("analysis_id")
    conditions = sorted(set(keys.condition), key=natural_key)
    # one <h2> per condition, in natural order, with its count; one <h3> per therapy class
    h2 = re.findall(r'<section class="group" id="([^"]+)">\n<h2><bdi>([^<]*)</bdi>', html)
    assert [t for _, t in h2] == [_html_escape(c) for c in conditions]
    for cond in conditions:
        n = int((keys.condition == cond).sum())
        assert f'<bdi>{_html_escape(cond)}</bdi> <span class="count">({n} analys' in html
        for cls in set(keys[keys.condition == cond].therapy_class):
            anchor = group_anchor("g", [cond, cls])
            assert anchor in ids and f"#{anchor}" in hrefs
            m = int(((keys.condition == cond) & (keys.therapy_class == cls)).sum())
            assert f'<h3 id="{anchor}"><bdi>{_html_escape(cls)}</bdi>' in html
            assert f'<span class="count">({m} analys' in html
    # the rows show the grouping key (comparator, outcome, outcome_type), and every analysis id
    # (its file name) is on the page, once per analysis row
    for _, r in keys.iterrows():
        assert f'<tr id="a-{r.analysis_id}">' in html
        row = html.split(f'<tr id="a-{r.analysis_id}">')[1].split("</tr>")[0]
        for col in ("comparator", "outcome", "outcome_type"):
            assert f"<bdi>{_html_escape(str(r[col]))}</bdi>" in row
        assert f">{r.analysis_id}<" in row and f'href="analyses/{r.analysis_id}.html"' in row


def _html_escape(text):
    import html as _h

    return _h.escape(text, quote=True)


def _numbered_trials(n_conditions=3, per=4):
    """Tiny trials: conditions and outcomes numbered without padding (2, 10, 19, 100)."""
    nums = [100, 2, 19, 10][:per]
    rows = []
    for c in range(1, n_conditions + 1):
        for j, num in enumerate(nums):
            for s in range(2):
                rows.append(
                    {
                        "study_id": f"S{c}-{num}-{s}",
                        "therapy": f"first trial text {s}",
                        "therapy_class": f"class {num % 3}",
                        "comparator": "placebo",
                        "condition": f"condition {c * 9}",
                        "outcome": f"outcome {num}",
                        "outcome_type": "binary",
                        "events_treat": 5 + s + j,
                        "n_treat": 50,
                        "events_ctrl": 8 + s,
                        "n_ctrl": 50,
                        "year": 2000 + s,
                        "source_file": "t.csv",
                        "source_row": len(rows) + 2,
                    }
                )
    from trialmeta.inputs.analyses import assign_analysis_ids

    return assign_analysis_ids(pd.DataFrame(rows), CONFIG["group_by"])


def test_index_natural_order_and_group_key_not_trial_text(tmp_path):
    trials = _numbered_trials()
    pooled, studies, _ = engine_tables(trials)
    out = build(tmp_path, trials, pooled, studies, figures=False)
    html = (out / "index.html").read_text()
    heads = re.findall(r'<section class="group" id="[^"]+">\n<h2><bdi>([^<]*)</bdi>', html)
    assert heads == ["condition 9", "condition 18", "condition 27"]
    section = html.split("<bdi>condition 9</bdi>")[2].split("</section>")[0]
    assert re.findall(r"<h3 id=[^>]+><bdi>([^<]*)</bdi>", section) == ["class 1", "class 2"]
    # class 1 holds outcome 10, outcome 19 and outcome 100, in natural order (class 2: outcome 2)
    cls1 = section.split("<bdi>class 1</bdi>")[1].split("<bdi>class 2</bdi>")[0]
    assert re.findall(r"<bdi>(outcome \d+)</bdi>", cls1) == [
        "outcome 10",
        "outcome 19",
        "outcome 100",
    ]
    assert "first trial text" not in html  # the grouping key, not a trial's therapy text
    plain = html.split('id="summaries"')[1].split("</section>")[0]
    firsts = re.findall(r"<dt><a [^>]+><bdi>([^<]*)</bdi>", plain)
    assert firsts[0] == "class 1 \u00b7 placebo \u00b7 condition 9 \u00b7 outcome 10 \u00b7 binary"


def test_large_index_split_into_condition_pages(tmp_path, monkeypatch):
    trials = _numbered_trials()
    pooled, studies, _ = engine_tables(trials)
    monkeypatch.setattr(index_page, "SPLIT_ABOVE", 5)
    out = build(tmp_path, trials, pooled, studies, figures=False)
    pages = sorted((out / "conditions").glob("*.html"))
    assert len(pages) == 3
    index = parse(out / "index.html")
    _, hrefs = _ids_and_links(index)
    assert not any(h.startswith("analyses/") for h in hrefs)  # the index lists groups only
    for page in pages:
        assert f"conditions/{page.name}" in hrefs
        ids, links = _ids_and_links(parse(page))
        assert all(h[1:] in ids for h in links if h.startswith("#"))
        text = page.read_text()
        metas = [a for t, a in parse(page).tags if a.get("http-equiv") == "Content-Security-Policy"]
        assert [m["content"] for m in metas] == [CSP]
        assert text.count('<tr id="a-') == 4 and 'href="../analyses/' in text
    for h in hrefs:  # links into a condition page land on an element of it
        if h.startswith("conditions/") and "#" in h:
            name, frag = h.split("/")[1].split("#")
            assert frag in _ids_and_links(parse(out / "conditions" / name))[0]
    check_offline(out, set())
    # a smaller rerun into the same folder is not split: the condition pages are removed
    monkeypatch.setattr(index_page, "SPLIT_ABOVE", 2000)
    out = build(tmp_path, trials, pooled, studies, figures=False)
    assert not list((out / "conditions").glob("*.html"))
    assert "conditions/" not in (out / "index.html").read_text()


def test_readme_documents_file_names():
    """The README's example analysis id is what :func:`analysis_id` gives for its values, and it
    names the files the report and the figure jobs write."""
    from trialmeta.inputs.analyses import analysis_id

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Finding an analysis: the index and file names")[1].split("\n### ")[
        0
    ]
    values = [
        "anti-CD20 B-cell-depleting monoclonal antibody",
        "placebo + MTX",
        "rheumatoid arthritis",
        "ACR20 response",
        "binary",
    ]
    assert f"`{analysis_id(values)}`" in section
    for name in (
        "report/analyses/<analysis_id>.html",
        "figures/forest/<analysis_id>.svg",
        "figures/exploration/<analysis_id>.<kind>.svg",
        "report/conditions/c-<condition>-<hash>.html",
        f"{index_page.SPLIT_ABOVE:,}",
    ):
        assert name in section, name
    for kind in ("subgroups-<moderator>", "bubble-<moderator>", "leave_one_out", "cumulative"):
        assert kind in section

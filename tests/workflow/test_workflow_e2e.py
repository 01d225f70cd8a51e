"""The real workflow, end to end, on the shipped data in a temporary copy of the project.

Runs `.venv/bin/snakemake` (subprocess) once for the module (tests/workflow_project.shipped_run)
and checks what a user gets in results/: 40 analyses, the tables, one forest plot per analysis
(SVG and PNG), the HTML report and provenance.json; plus `snakemake --report report.zip`.
"""

import hashlib
import html
import json
import re
import zipfile

import pandas as pd
import pytest

from helpers.workflow_project import TRIALS, shipped_run, snakemake
from trialmeta.report.index_page import natural_key

pytestmark = [pytest.mark.workflow, pytest.mark.xdist_group("workflow")]

N_ANALYSES = 40  # 16 immunotherapy analyses + 24 MSC-in-lupus (7 randomised, 17 single-arm)


@pytest.fixture(scope="module")
def project():
    return shipped_run()


@pytest.fixture(scope="module")
def results(project):
    return project / "results"


def test_sixteen_analyses_pooled(results):
    pooled = pd.read_csv(results / "tables" / "pooled.csv")
    assert pooled["analysis_id"].nunique() == N_ANALYSES
    primary = pooled[pooled["primary"].astype(str) == "True"]
    assert len(primary) == N_ANALYSES and primary["analysis_id"].is_unique
    assert set(primary["model"]) == {"random"}
    assert set(primary["tau2_method"]) == {"REML"} and set(primary["ci_method"]) == {"hksj"}
    # every configured tau2 estimator and CI method appears as a sensitivity row
    random = pooled[pooled["model"] == "random"]
    assert set(random["tau2_method"]) == {"REML", "DL", "PM", "ML", "EB", "SJ", "HE", "HS"}
    assert set(random["ci_method"]) == {"hksj", "wald"}


def test_tables_and_parquet_copies(results):
    tables = results / "tables"
    for name in ("pooled", "studies"):
        csv = pd.read_csv(tables / f"{name}.csv")
        parquet = pd.read_parquet(tables / f"{name}.parquet")
        assert list(csv.columns) == list(parquet.columns)
        assert len(csv) == len(parquet) > 0
        assert (csv["analysis_id"].astype(str) == parquet["analysis_id"].astype(str)).all()
    studies = pd.read_csv(tables / "studies.csv")
    assert studies["analysis_id"].nunique() == N_ANALYSES
    warnings = pd.read_csv(tables / "warnings.csv")
    assert {"file", "row", "column", "value", "severity", "message"} <= set(warnings.columns)
    for name in (
        "subgroups",
        "metaregression",
        "leave_one_out",
        "influence",
        "cumulative",
        "small_study",
        "sparse_binary",
    ):
        assert (tables / f"{name}.csv").is_file(), name


def test_one_forest_plot_per_analysis(results):
    ids = set(pd.read_csv(results / "tables" / "pooled.csv")["analysis_id"])
    forest = results / "figures" / "forest"
    files = sorted(p.name for p in forest.iterdir())
    # figures.formats default [svg]: PNG and PDF only where asked (issue 16)
    assert files == sorted(f"{aid}.svg" for aid in ids)
    for aid in ids:
        svg = (forest / f"{aid}.svg").read_text(encoding="utf-8")
        assert "<svg" in svg and "</svg>" in svg


def test_exploration_figures_published_and_in_report(results):
    """The figure jobs also draw the exploration figures (results/figures/exploration), and the
    report pages show them: the shipped biomarker_selected subgroup analysis (the intralipid
    analysis, the only one with trials in both levels) with the data README's caveat."""
    subgroups = pd.read_csv(results / "tables" / "subgroups.csv")
    (aid,) = set(subgroups.loc[subgroups["moderator"] == "biomarker_selected", "analysis_id"])
    exploration = results / "figures" / "exploration"
    names = sorted(p.name for p in exploration.iterdir())
    assert f"{aid}.subgroups-biomarker_selected.svg" in names
    # k >= 3: leave-one-out and cumulative plots; no analysis reaches k = 10, so no funnel plot
    k = pd.read_csv(results / "tables" / "small_study.csv").groupby("analysis_id")["k"].first()
    for a in k[k >= 3].index:
        assert f"{a}.leave_one_out.svg" in names and f"{a}.cumulative.svg" in names
    assert not [n for n in names if ".funnel." in n]
    page = (results / "report" / "analyses" / f"{aid}.html").read_text(encoding="utf-8")
    # shown from results/figures/exploration, not copied into the report (issue 16: one copy)
    name = f"{aid}.subgroups-biomarker_selected.svg"
    assert f'src="../../figures/exploration/{name}"' in page
    assert (results / "report" / "analyses" / "../../figures/exploration" / name).is_file()
    assert not (results / "report" / "figures" / name).exists()
    forest = f'src="../../figures/forest/{aid}.svg"'
    assert forest in page and (results / "figures" / "forest" / f"{aid}.svg").is_file()
    assert "a demonstration contrast, not a powered subgroup analysis" in page
    assert "Small-study tests not run: k = 2 &lt; 10" in page and "No funnel plot is drawn." in page
    # the subgroup forest plot has the forest plot's parts (weights, totals, favours
    # labels, axis title, the primary total; the texts themselves: tests/unit/test_bias_plots.py)
    svg = (exploration / f"{aid}.subgroups-biomarker_selected.svg").read_text(encoding="utf-8")
    for gid in ("header-t", "header-weight", "overall-effect", "favours-left", "axis-title"):
        assert f'id="{gid}"' in svg, gid
    forest = (results / "figures" / "forest" / f"{aid}.svg").read_text(encoding="utf-8")
    # the intralipid pooled CI (0.01-192.5) is cut at the capped axis (0.01-100) with an arrow
    assert 'id="axis-title"' in forest and 'id="arrow-right"' in forest


def test_report_index_and_pages(results):
    report = results / "report"
    index = (report / "index.html").read_text(encoding="utf-8")
    ids = set(pd.read_csv(results / "tables" / "pooled.csv")["analysis_id"])
    pages = {p.stem for p in (report / "analyses").glob("*.html")}
    assert pages == ids
    for aid in ids:
        assert f"analyses/{aid}.html" in index
        # the page shows the published forest plot (results/figures/forest), no copy in report/
        page = (report / "analyses" / f"{aid}.html").read_text(encoding="utf-8")
        assert f'src="../../figures/forest/{aid}.svg"' in page
        assert (results / "figures" / "forest" / f"{aid}.svg").is_file()
        assert not (report / "figures" / f"{aid}.svg").exists()
    assert (
        "http://" not in index.split("<body", 1)[0] and "https://" not in index.split("<body", 1)[0]
    ), "the report head must not load anything from the network"
    # grouped by condition, then therapy_class (the example's group_by), conditions in natural
    # order, each heading with its count; every table-of-contents link lands on the page
    keys = pd.read_csv(results / "tables" / "pooled.csv").drop_duplicates("analysis_id")
    assert 'Contents <span class="muted">by condition, then therapy_class</span>' in index
    links = re.findall(r'href="#([^"]+)"', index)
    assert links and set(links) <= set(re.findall(r' id="([^"]+)"', index))
    heads = re.findall(r'<section class="group" id="[^"]+">\n<h2><bdi>([^<]*)</bdi>', index)
    assert heads == [html.escape(c) for c in sorted(set(keys.condition), key=natural_key)]
    for cls in set(keys.therapy_class):
        assert f'<bdi>{html.escape(cls)}</bdi> <span class="count">(' in index


def test_provenance(project, results):
    prov = json.loads((results / "provenance.json").read_text(encoding="utf-8"))
    # every CSV of data/trials/ (the example's glob), e.g. multi_arm_trials.csv (issue 14)
    inputs = {i["path"]: i for i in prov["inputs"]}
    shipped = (project / "data" / "trials").glob("*.csv")
    assert sorted(inputs) == sorted(str(p.relative_to(project)) for p in shipped)
    inp = inputs[str(TRIALS)]
    assert inp["sha256"] == hashlib.sha256((project / TRIALS).read_bytes()).hexdigest()
    # the Snakefile's config, then the example's --configfile (given relative, recorded relative)
    assert [c["path"] for c in prov["config_files"]] == [
        "config/config.yaml",
        "config/example.yaml",
    ]
    for cfg in prov["config_files"]:
        assert cfg["sha256"] == hashlib.sha256((project / cfg["path"]).read_bytes()).hexdigest()
    assert prov["packages"]["snakemake"] == "9.27.1"
    assert prov["packages"]["numpy"] and prov["packages"]["pandas"]
    assert "snakemake" in prov["command"] and "--cores" in prov["command"]
    assert prov["config"]["group_by"] == [
        "therapy_class",
        "comparator",
        "condition",
        "outcome",
        "outcome_type",
    ]
    assert set(prov["git"]) == {"commit", "dirty"}


def test_manifest_lists_every_published_file(results):
    manifest = json.loads((results / ".trialmeta-manifest.json").read_text(encoding="utf-8"))[
        "files"
    ]
    on_disk = sorted(
        p.relative_to(results).as_posix()
        for p in results.rglob("*")
        if p.is_file() and not p.name.startswith(".")
    )
    assert manifest == on_disk


def test_snakemake_report_zip(project, tmp_path):
    out = tmp_path / "report.zip"
    snakemake(project, "--report", str(out), timeout=900)
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
    assert any(n.endswith("pooled.csv") for n in names), names[:20]
    assert any(n.endswith("provenance.json") for n in names)
    # per-analysis figures are off by default (config report.per_analysis_figures_in_snakemake_report)
    assert not any(n.endswith(".svg") and "forest" in n for n in names)

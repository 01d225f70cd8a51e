"""trialmeta.pipeline.publish (the only writer into results/) and trialmeta.pipeline.plan (figure batches)."""

import json

import pytest

from trialmeta.pipeline.plan import figure_batches, n_figure_batches, output_digest
from trialmeta.pipeline.publish import MANIFEST_NAME, publish_results, read_manifest


def _stage(tmp_path, files, report):
    stage = tmp_path / "stage"
    for rel, text in {**files, **{f"report/{k}": v for k, v in report.items()}}.items():
        p = stage / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    mapping = {rel: stage / rel for rel in files}
    return mapping, stage / "report"


def test_publish_copies_files_swaps_report_and_writes_manifest(tmp_path):
    results = tmp_path / "results"
    mapping, report = _stage(
        tmp_path / "a",
        {"tables/pooled.csv": "a\n", "figures/forest/x.svg": "<svg/>"},
        {"index.html": "old index", "analyses/x.html": "x"},
    )
    publish_results(mapping, report, results)
    assert (results / "tables/pooled.csv").read_text() == "a\n"
    assert (results / "report/index.html").read_text() == "old index"
    assert read_manifest(results) == [
        "figures/forest/x.svg",
        "report/analyses/x.html",
        "report/index.html",
        "tables/pooled.csv",
    ]

    user_file = results / "tables" / "my_notes.txt"
    user_file.write_text("mine")
    mapping, report = _stage(
        tmp_path / "b", {"tables/pooled.csv": "b\n"}, {"index.html": "new index"}
    )
    publish_results(mapping, report, results)
    assert (results / "tables/pooled.csv").read_text() == "b\n"
    assert not (results / "figures/forest/x.svg").exists(), (
        "a file of the previous run only is removed"
    )
    assert user_file.read_text() == "mine", "files the workflow did not write are never touched"
    assert (results / "report/index.html").read_text() == "new index"
    assert not (results / "report/analyses").exists(), "the report directory is replaced as a whole"
    assert not list(results.glob(".report-*")) and not list(results.rglob("*.publish"))
    assert json.loads((results / MANIFEST_NAME).read_text())["files"] == [
        "report/index.html",
        "tables/pooled.csv",
    ]


@pytest.mark.parametrize("dest", ["../escape.csv", "/etc/x", "report/index.html"])
def test_publish_refuses_paths_outside_results_or_into_the_report(tmp_path, dest):
    src = tmp_path / "f"
    src.write_text("x")
    with pytest.raises(ValueError):
        publish_results({dest: src}, None, tmp_path / "results")
    assert not (tmp_path / "escape.csv").exists()


def _plan(n):
    return {
        "code": "c",
        "settings": "s",
        "analyses": {f"analysis-{i:04d}-{i * 2654435761 % 16**12:012x}": f"d{i}" for i in range(n)},
    }


def test_figure_batches_cover_every_analysis_once():
    plan = _plan(1000)
    batches = figure_batches(plan)
    assert len(batches) == n_figure_batches(1000) == 4  # FIGURES_PER_JOB = 200
    ids = [a for b in batches for a in b.analysis_ids]
    assert sorted(ids) == sorted(plan["analyses"])
    assert all(b.digests[a] == output_digest(plan, a) for b in batches for a in b.analysis_ids)


def test_adding_an_analysis_keeps_the_other_batches():
    before = {b.name: b.digests for b in figure_batches(_plan(100))}
    plan = _plan(101)
    after = {b.name: b.digests for b in figure_batches(plan)}
    new = sorted(set(plan["analyses"]) - {a for d in before.values() for a in d})
    assert len(new) == 1
    changed = [name for name in after if after[name] != before.get(name)]
    assert len(changed) == 1 and new[0] in after[changed[0]]


def test_output_digest_changes_with_rows_settings_and_code():
    plan = _plan(3)
    aid = sorted(plan["analyses"])[0]
    base = output_digest(plan, aid)
    for key, value in (("code", "c2"), ("settings", "s2")):
        assert output_digest({**plan, key: value}, aid) != base
    rows = dict(plan["analyses"], **{aid: "other"})
    assert output_digest({**plan, "analyses": rows}, aid) != base


def test_small_numbers_of_analyses():
    # about n / 200 (FIGURES_PER_JOB), a power of two rounded down, at least 4, never more than n
    assert [n_figure_batches(n) for n in (0, 1, 2, 3, 16, 100, 1000, 5000, 10_000)] == [
        0,
        1,
        2,
        4,
        4,
        4,
        4,
        16,
        32,
    ]

"""trialmeta.pipeline.compare: the one comparison engine of changes.csv and the CI gate."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from trialmeta.pipeline.compare import (
    Tolerances,
    analysis_changes,
    baseline_key,
    changes_key,
    check_dirs,
    check_main,
    conclusion_flags,
    setting_changes,
    trial_changes,
)

POOLED_COLS = ["analysis_id", "measure", "model", "tau2_method", "ci_method", "k", "estimate"]


def _pooled(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=POOLED_COLS).astype(str)


def _results(root, pooled, provenance=None, html="<p>x</p>"):
    (root / "tables").mkdir(parents=True)
    pooled.to_csv(root / "tables" / "pooled.csv", index=False)
    (root / "provenance.json").write_text(json.dumps(provenance or {"config": {"level": 0.95}}))
    (root / "report").mkdir()
    (root / "report" / "index.html").write_text(html)
    files = ["tables/pooled.csv", "provenance.json", "report/index.html"]
    (root / ".trialmeta-manifest.json").write_text(json.dumps({"files": files}))
    return root


def test_tolerance_follows_the_estimator_table():
    tol = Tolerances()
    assert tol.rtol("pooled", "estimate", {"tau2_method": "DL"}) == 1e-10
    assert tol.rtol("pooled", "estimate", {"tau2_method": "REML"}) == 1e-8
    assert tol.rtol("pooled", "tau2_ci_low", {"tau2_method": "DL"}) == 1e-8
    assert tol.rtol("metaregression", "estimate", {}) == 1e-8
    assert Tolerances(columns={"estimate": 0.1}).rtol("pooled", "estimate", {}) == 0.1


def test_check_passes_within_and_fails_beyond_tolerance(tmp_path, capsys):
    rows = [
        ["a1", "RR", "random", "REML", "hksj", "3", "0.5"],
        ["a2", "RR", "random", "DL", "hksj", "4", "0.25"],
    ]
    ref = _results(tmp_path / "ref", _pooled(rows))
    near = [r[:] for r in rows]
    near[0][-1] = repr(0.5 * (1 + 5e-9))  # iterative row: within 1e-8
    ok = _results(
        tmp_path / "ok",
        _pooled(near),
        provenance={"config": {"level": 0.95, "results": "x"}, "command": "other"},
    )
    assert check_dirs(ok, ref) == []
    far = [r[:] for r in rows]
    far[1][-1] = repr(0.25 * (1 + 5e-9))  # closed-form row: beyond 1e-10
    far[1][5] = "5"
    bad = _results(tmp_path / "bad", _pooled(far))
    diffs = check_dirs(bad, ref)
    assert len(diffs) == 2 and all("analysis_id=a2" in d for d in diffs)
    assert "column k: 5 != 4" in diffs[0] and "column estimate" in diffs[1]
    assert check_main([str(bad), str(ref)]) == 1
    assert "tables/pooled.csv: row 2 (analysis_id=a2" in capsys.readouterr().out
    assert check_main([str(ok), str(ref)]) == 0
    assert check_main([str(bad), str(ref), "--closed", "1e-6", "--ignore", "tables/*"]) == 0


def test_report_provenance_rows_are_masked_other_bytes_compared(tmp_path):
    row = "<tr><td><bdi>{}</bdi></td><td class='mono'><bdi>{}</bdi></td></tr>"
    pooled = _pooled([["a1", "RR", "random", "DL", "hksj", "3", "0.5"]])
    ref = _results(tmp_path / "ref", pooled, html=row.format("git.commit", "abc") + "<p>1</p>")
    same = _results(tmp_path / "same", pooled, html=row.format("git.commit", "def") + "<p>1</p>")
    other = _results(tmp_path / "other", pooled, html=row.format("git.commit", "abc") + "<p>2</p>")
    assert check_dirs(same, ref) == []
    assert check_dirs(other, ref) == [
        "report/index.html: the pages differ (provenance's volatile rows masked)"
    ]


def _studies(rows) -> pd.DataFrame:
    cols = [
        "therapy",
        "analysis_id",
        "study_id",
        "measure",
        "yi",
        "events_treat",
        "n_treat",
        "source_file",
        "source_row",
    ]
    return pd.DataFrame(rows, columns=cols).astype(str)


def test_trials_are_matched_by_study_not_by_row():
    old = _studies(
        [
            ["d", "a", "S1", "RR", "0.1", "5", "50", "t.csv", "2"],
            ["d", "a", "S2", "RR", "0.2", "6", "60", "t.csv", "3"],
        ]
    )
    new = _studies(
        [
            ["d", "a", "S0", "RR", "0.3", "7", "70", "t.csv", "2"],  # inserted above
            ["d", "a", "S1", "RR", "0.1", "5", "50", "t.csv", "3"],
            ["d", "a", "S2", "RR", "0.25", "8", "60", "t.csv", "4"],
        ]
    )
    rows = trial_changes(old, new)
    assert [
        (r["kind"], r["study_id"], r["column"], r["old"], r["new"], r["source"]) for r in rows
    ] == [
        ("trial_added", "S0", "", "", "", "t.csv:2"),
        ("trial_edited", "S2", "events_treat", "6", "8", "t.csv:4"),
    ]


@pytest.mark.parametrize(
    "old, new, flags",
    [
        ((0.5, 0.1, 0.9), (0.2, -0.1, 0.6), {"ci_no_longer_excludes_no_effect", "estimate_moved"}),
        ((0.1, -0.1, 0.3), (0.25, 0.05, 0.45), {"ci_now_excludes_no_effect", "estimate_moved"}),
        ((0.1, -0.5, 0.7), (-0.1, -0.7, 0.5), {"direction_changed"}),
        ((0.5, 0.1, 0.9), (0.52, 0.12, 0.92), set()),
    ],
)
def test_conclusion_flags(old, new, flags):
    def rec(e):
        return {"estimate": str(e[0]), "ci_low": str(e[1]), "ci_high": str(e[2])}

    assert {f for f, _ in conclusion_flags(rec(old), rec(new), 0.25)} == flags


def test_results_and_settings_changes():
    cols = ["analysis_id", "measure", "primary", "k", "estimate", "ci_low", "ci_high"]
    old = pd.DataFrame(
        [
            ["a", "RR", "True", "3", "0.5", "0.1", "0.9"],
            ["b", "RR", "True", "2", "1", "0.5", "1.5"],
        ],
        columns=cols,
    )
    new = pd.DataFrame(
        [
            ["a", "RR", "True", "4", "0.5", "0.1", "0.9"],
            ["c", "RR", "True", "2", "1", "0.5", "1.5"],
        ],
        columns=cols,
    )
    rows = analysis_changes(old, new, 0.25)
    assert [(r["kind"], r["analysis_id"], r["column"], r["old"], r["new"]) for r in rows] == [
        ("analysis_added", "c", "", "", ""),
        ("analysis_removed", "b", "", "", ""),
        ("result", "a", "k", "3", "4"),
    ]
    rows = setting_changes(
        {"config": {"level": 0.95, "results": "r1"}, "packages": {"numpy": "2.0"}},
        {"config": {"level": 0.9, "results": "r2"}, "packages": {"numpy": "2.1"}},
    )
    assert [(r["kind"], r["column"], r["old"], r["new"]) for r in rows] == [
        ("setting", "level", "0.95", "0.9"),
        ("package", "numpy", "2.0", "2.1"),
    ]


def test_changes_key_is_kept_after_the_own_publish(tmp_path):
    """The changes rule reruns when its baseline is replaced, not after this run's publish."""
    results = _results(
        tmp_path / "results", _pooled([["a", "RR", "random", "DL", "hksj", "3", "1"]])
    )
    published = tmp_path / "published.json"
    assert changes_key(results, results, published) == baseline_key(results) != "none"
    published.write_text(
        json.dumps({"changes_baseline": {"compared": "k0", "published": baseline_key(results)}})
    )
    assert changes_key(results, results, published) == "k0"  # our own publish: unchanged
    (results / "tables" / "pooled.csv").write_text("analysis_id\nb\n")  # replaced since
    assert changes_key(results, results, published) == baseline_key(results) != "k0"
    assert changes_key(tmp_path / "nowhere", results, published) == "none"

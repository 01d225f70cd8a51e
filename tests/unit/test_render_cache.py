"""The per-analysis render cache (trialmeta.pipeline.render_cache) and the report's page cache: a cached
build is byte-identical to an uncached one, an edited analysis is rendered again, stale entries go."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from helpers.report_tables import CONFIG, engine_tables, load_shipped_trials
from trialmeta.pipeline import render_cache
from trialmeta.report import build_report


def tree_digest(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------------------- the cache module
def test_store_restore_prune(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a1.svg").write_text("forest")
    (src / "a1.funnel.svg").write_text("funnel")
    cache = tmp_path / "cache"
    assert render_cache.restore(cache, "a1", "k1", tmp_path / "out") is None
    render_cache.store(cache, "a1", "k1", sorted(src.iterdir()))
    render_cache.store(cache, "a2", "k9", {"page.html": src / "a1.svg"})
    got = render_cache.restore(cache, "a1", "k1", tmp_path / "out")
    assert sorted(p.name for p in got) == ["a1.funnel.svg", "a1.svg"]
    assert (tmp_path / "out" / "a1.funnel.svg").read_text() == "funnel"
    # a newer key for a1 and an interrupted writer's leftover: both pruned for a1 only
    render_cache.store(cache, "a1", "k2", [src / "a1.svg"])
    (cache / ".a1.tmpjunk").mkdir()
    (cache / ".a2.tmpjunk").mkdir()  # another job's writer: not ours to remove
    assert render_cache.prune(cache, {"a1": "k2"}) == 2
    assert sorted(d.name for d in cache.iterdir()) == [".a2.tmpjunk", "a1.k2", "a2.k9"]
    assert render_cache.restore(cache, "a1", "k1", tmp_path / "out") is None


# ---------------------------------------------------------------------------- the report's page cache
@pytest.fixture(scope="module")
def tables():
    trials, warnings = load_shipped_trials()
    pooled, studies, _ = engine_tables(trials)
    return trials, pooled, studies, list(warnings)


def test_cached_report_is_byte_identical_and_edits_are_rendered(tables, tmp_path):
    trials, pooled, studies, warnings = tables
    figs = tmp_path / "figs"
    figs.mkdir()
    cache = tmp_path / "cache"

    def build(out, pooled=pooled, cache_dir=cache):
        build_report(
            pooled,
            studies,
            trials,
            CONFIG,
            warnings,
            figs,
            tmp_path / out,
            {"run": "x"},
            cache_dir=cache_dir,
        )
        return tree_digest(tmp_path / out)

    plain = build("plain", cache_dir=None)
    assert build("cold") == plain  # fills the cache
    n = len(set(pooled.analysis_id))
    assert len([d for d in cache.iterdir() if not d.name.startswith(".")]) == n
    stamp = {d.name: (d / "page.html").stat().st_mtime_ns for d in cache.iterdir()}
    assert build("warm") == plain  # every page from the cache

    # change one analysis's primary estimate: its page (and the index) change, the others do not
    aid = sorted(set(pooled.analysis_id))[0]
    edited = pooled.copy()
    row = edited.index[(edited.analysis_id == aid) & edited["primary"].astype(bool)][0]
    edited.loc[row, "estimate"] = edited.loc[row, "estimate"] + 0.25
    after = build("edited", pooled=edited)
    assert after == build("edited_plain", pooled=edited, cache_dir=None)
    changed = {k for k in plain if plain[k] != after[k]}
    assert changed == {"index.html", f"analyses/{aid}.html"}
    entries = {d.name for d in cache.iterdir()}
    assert len(entries) == n  # the old entry of the edited analysis was pruned
    assert {e for e in entries if not e.startswith(aid)} == {
        e for e in stamp if not e.startswith(aid)
    }


def test_cross_check_of_other_analyses_does_not_re_render_pages(tables, tmp_path):
    """Issue 16: the cross-check summary (and the index's biomarker overview) changes with any
    edit; a page is re-rendered only when its own line (checked, flagged) changes."""
    trials, pooled, studies, warnings = tables
    ids = sorted(set(pooled.analysis_id))
    cache = tmp_path / "cache"

    def build(out, crosscheck):
        build_report(pooled, studies, trials, CONFIG, warnings, [], tmp_path / out, {"run": "x"},
                     cache_dir=cache, crosscheck=crosscheck)  # fmt: skip
        return {p.name: p.stat().st_ino for p in (tmp_path / out / "analyses").iterdir()}

    base = {"checked": ids, "flags": {}, "n_analyses": len(ids), "n_reproduced": len(ids),
            "n_explained": 0, "n_unexplained": 0, "notes": []}  # fmt: skip
    first = build("a", base)
    entries = {d.name for d in cache.iterdir()}
    # another analysis checked differently, new counts: every page comes from the cache
    other = dict(base, checked=ids[1:], n_reproduced=len(ids) - 1, n_unexplained=1)
    other["flags"] = {ids[0]: ["differs from PyMARE"]}
    second = build("b", other)
    assert {d.name for d in cache.iterdir()} - entries == {
        d for d in {x.name for x in cache.iterdir()} if d.startswith(ids[0] + ".")
    }
    for name, inode in second.items():
        if not name.startswith(ids[0] + "."):
            assert inode == first[name], name  # the same cached file, linked
    page = (tmp_path / "b" / "analyses" / f"{ids[0]}.html").read_text(encoding="utf-8")
    assert "Independent reproduction" not in page  # ids[0] is no longer checked: re-rendered

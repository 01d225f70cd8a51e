"""trialmeta.pipeline.jobs.replace_with_link / atomic_path leave no temporary file behind when the
destination already is a hard link to the source (rename(2) of two links to one file does
nothing): found by tests/benchmarks/bench_workflow.py, where a one-row edit left 133 hidden
``.<figure>.svg.<random>.tmp`` files in results/figures (issue 16, output size)."""

from __future__ import annotations

import os

from trialmeta.pipeline.jobs import atomic_path, link_or_copy, replace_with_link


def test_relinking_the_same_file_leaves_only_the_file(tmp_path):
    src, dst = tmp_path / "a.svg", tmp_path / "out" / "a.svg"
    src.write_text("<svg/>", encoding="utf-8")
    replace_with_link(src, dst)  # new: linked in place
    replace_with_link(src, dst)  # already the same file
    assert sorted(p.name for p in dst.parent.iterdir()) == ["a.svg"]
    assert os.path.samefile(src, dst)


def test_atomic_path_onto_a_link_of_the_same_file_leaves_no_temporary(tmp_path):
    src, dst = tmp_path / "a.svg", tmp_path / "b.svg"
    src.write_text("<svg/>", encoding="utf-8")
    os.link(src, dst)
    with atomic_path(dst) as tmp:
        os.unlink(tmp)
        link_or_copy(src, tmp)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.svg", "b.svg"]


def test_replacing_with_another_file_still_replaces(tmp_path):
    old, new, dst = tmp_path / "old", tmp_path / "new", tmp_path / "dst"
    old.write_text("old", encoding="utf-8")
    new.write_text("new", encoding="utf-8")
    replace_with_link(old, dst)
    replace_with_link(new, dst)
    assert dst.read_text(encoding="utf-8") == "new" and os.path.samefile(new, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "new", "old"]

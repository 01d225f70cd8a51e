"""The evidence map's cache (trialmeta.plots.evidence_map_cache, issue 16): a hit writes the bytes
a fresh drawing writes, and the key follows exactly what the map shows. All tables here are
SYNTHETIC (made-up labels and numbers)."""

from __future__ import annotations

from test_evidence_map_scale import synthetic_sof

from trialmeta.plots.evidence_map import evidence_map
from trialmeta.plots.evidence_map_cache import ENTRY, map_key, write_evidence_map
from trialmeta.plots.evidence_map_layout import map_content
from trialmeta.plots.style import figure_bytes


def _key(sof, code="c1", formats=("svg",)):
    axes, cells = map_content(sof, None, 3, 4)
    return map_key(axes, cells, formats, code)


def test_hit_writes_the_drawn_bytes(tmp_path):
    sof = synthetic_sof(3, 4)
    cache, out = tmp_path / "cache", tmp_path / "out"
    drawn = figure_bytes(evidence_map(sof), "svg")
    first = write_evidence_map(sof, None, [out / "evidence_map.svg"], cache_dir=cache, code="c")
    assert first[0].read_bytes() == drawn
    assert [d.name.split(".")[0] for d in cache.iterdir()] == [ENTRY]
    first[0].unlink()
    again = write_evidence_map(sof, None, [out / "evidence_map.svg"], cache_dir=cache, code="c")
    assert again[0].read_bytes() == drawn
    # without a cache: drawn, the same bytes
    plain = write_evidence_map(sof, None, [tmp_path / "plain" / "evidence_map.svg"])
    assert plain[0].read_bytes() == drawn


def test_changed_map_is_drawn_again_and_replaces_the_entry(tmp_path):
    sof = synthetic_sof(3, 4)
    cache, path = tmp_path / "cache", tmp_path / "out" / "evidence_map.svg"
    write_evidence_map(sof, None, [path], cache_dir=cache, code="c")
    sof.loc[0, "relative_estimate"] = 2.5  # a cell the map shows
    write_evidence_map(sof, None, [path], cache_dir=cache, code="c")
    assert path.read_bytes() == figure_bytes(evidence_map(sof), "svg")
    assert len(list(cache.iterdir())) == 1  # the old entry was pruned


def test_key_follows_what_the_map_shows():
    sof = synthetic_sof(6, 8)  # bounded to 3 x 4 cells in _key
    base = _key(sof)
    assert _key(sof.copy()) == base
    axes, cells = map_content(sof, None, 3, 4)
    shown = set(cells["analysis_id"])
    hidden = sof.index[~sof["analysis_id"].isin(shown)][0]
    edited = sof.copy()
    edited.loc[hidden, "relative_estimate"] = 9.0  # an analysis the map leaves out
    assert _key(edited) == base
    edited = sof.copy()
    edited.loc[sof.index[sof["analysis_id"].isin(shown)][0], "relative_ci_low"] = 0.5
    assert _key(edited) != base
    assert _key(sof, code="c2") != base
    assert _key(sof, formats=("svg", "png")) != base

"""trialmeta.pipeline.explore_batches: the exploration tables computed per batch of analyses and
kept between runs (issue 16). The batched tables are the whole-table ones (same rows, order,
columns and types; numbers to the last bits a batch's width can move); a batch whose digest is
unchanged is read back, not computed; and a run that recomputes one batch writes the same bytes
as a run that computes every batch from scratch."""

import numpy as np
import pandas as pd
import pytest

from helpers.reference_data import analysis_rows, load_reference, reference_effects
from trialmeta.pipeline import render_cache
from trialmeta.pipeline.explore_batches import exploration_tables_by_batch
from trialmeta.pipeline.jobs import read_parquet, write_parquet
from trialmeta.pipeline.plan import batch_index
from trialmeta.pipeline.safe_csv import to_safe_csv_text
from trialmeta.tables.exploration import exploration_tables
from trialmeta.tables.names import EXPLORATION_TABLES

DATASETS = [
    ("dat.bcg", "bcg_tb"),
    ("dat.hart1999", "warfarin_stroke"),
    ("dat.collins1985b", "perinatal_death"),
    ("dat.lau1992", "streptokinase_mortality"),
]
CONFIG = {
    "subgroups": ["alloc", "prevtype"],
    "metaregression": ["ablat", "alloc", "year"],
    "tau2_methods": ["REML"],
}
N_BATCHES = 3


def _analyses():
    """The metafor reference analyses, each also as 3 copies under other ids with shifted effects
    (ids with a hexadecimal suffix, as the workflow's, spread over the batches)."""
    effects, trials = [], []
    for ds, name in DATASETS:
        t, ref = load_reference(ds)
        a = ref["analyses"][name]
        rows = analysis_rows(t, a)
        for copy, shift in enumerate((0.0, 0.13, -0.27, 0.41)):
            aid = f"{name}-{copy * 7 + len(name):x}"
            tr = rows.assign(
                analysis_id=aid,
                source_file=f"{ds}/{copy}.csv",
                source_row=np.arange(len(rows)) + 2,
            )
            trials.append(tr)
            effects.append(reference_effects(a, tr, aid, shift))
    return pd.concat(effects, ignore_index=True), pd.concat(trials, ignore_index=True)


@pytest.fixture(scope="module")
def data():
    effects, trials = _analyses()
    used = {batch_index(a, N_BATCHES) for a in effects["analysis_id"].unique()}
    assert used == set(range(N_BATCHES)), "the test analyses should fill every batch"
    return effects, trials


def _keys(**changed):
    return {f"b{i:03d}": changed.get(f"b{i:03d}", f"key{i}") for i in range(N_BATCHES)}


def _csv(tables):
    return {t: to_safe_csv_text(tables[t]) for t in EXPLORATION_TABLES}


def test_batched_tables_are_the_whole_table_ones(data, tmp_path):
    effects, trials = data
    batched, computed = exploration_tables_by_batch(
        effects, trials, CONFIG, _keys(), N_BATCHES, tmp_path / "cache"
    )
    assert computed == ["b000", "b001", "b002"]
    whole = exploration_tables(effects, trials, CONFIG)
    for name in EXPLORATION_TABLES:
        write_parquet(whole[name], tmp_path / f"{name}.parquet")  # the types the job writes
        expected, got = read_parquet(tmp_path / f"{name}.parquet"), batched[name]
        assert len(expected) > 0 or name == "sparse_binary", name
        assert list(got.columns) == list(expected.columns), name
        assert got.dtypes.astype(str).tolist() == expected.dtypes.astype(str).tolist(), name
        for col in expected.columns:
            if pd.api.types.is_float_dtype(expected[col]):
                np.testing.assert_allclose(
                    got[col].to_numpy(float),
                    expected[col].to_numpy(float),
                    rtol=1e-9,
                    atol=1e-12,
                    err_msg=f"{name}.{col}",
                )
            else:
                pd.testing.assert_series_equal(got[col], expected[col], obj=f"{name}.{col}")


def test_an_unchanged_batch_is_read_back_and_a_changed_one_computed_again(data, tmp_path):
    effects, trials = data
    cache = tmp_path / "cache"
    first, _ = exploration_tables_by_batch(effects, trials, CONFIG, _keys(), N_BATCHES, cache)
    again, computed = exploration_tables_by_batch(
        effects, trials, CONFIG, _keys(), N_BATCHES, cache
    )
    assert computed == []
    assert _csv(again) == _csv(first)

    # an edit in batch b001: its digest changes; the edited analysis's effects change
    edited_id = next(a for a in effects["analysis_id"].unique() if batch_index(a, N_BATCHES) == 1)
    edited = effects.copy()
    row = edited.index[edited["analysis_id"] == edited_id][0]
    edited.loc[row, "yi"] += 0.5
    keys = _keys(b001="edited")
    incremental, computed = exploration_tables_by_batch(
        edited, trials, CONFIG, keys, N_BATCHES, cache
    )
    assert computed == ["b001"]
    assert not render_cache.entry_dir(cache, "b001", "key1").exists()  # the old entry is pruned
    assert render_cache.entry_dir(cache, "b000", "key0").is_dir()
    from_scratch, computed = exploration_tables_by_batch(
        edited, trials, CONFIG, keys, N_BATCHES, tmp_path / "empty"
    )
    assert computed == ["b000", "b001", "b002"]
    assert _csv(incremental) == _csv(from_scratch)  # byte for byte
    assert _csv(incremental) != _csv(first)


def test_a_batch_the_plan_does_not_know_is_computed_and_not_kept(data, tmp_path):
    effects, trials = data
    cache = tmp_path / "cache"
    keys = _keys()
    del keys["b002"]
    tables, computed = exploration_tables_by_batch(effects, trials, CONFIG, keys, N_BATCHES, cache)
    assert computed == ["b000", "b001", "b002"]
    assert sorted(p.name.split(".")[0] for p in cache.iterdir()) == ["b000", "b001"]
    full, _ = exploration_tables_by_batch(
        effects, trials, CONFIG, _keys(), N_BATCHES, tmp_path / "c2"
    )
    assert _csv(tables) == _csv(full)

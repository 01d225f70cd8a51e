"""The exploration tables computed per batch of analyses, each batch kept between runs.

The explore job's tables (:func:`trialmeta.tables.exploration.exploration_tables`) cover every
analysis, and a one-row edit changes one. The analyses are split into the figure jobs' batches
(:func:`trialmeta.pipeline.plan.batch_index`: by the hash suffix of their id, a fixed split for a
given number of analyses); each batch's tables are computed on that batch alone and kept in an
entry of the render cache (:mod:`trialmeta.pipeline.render_cache`) keyed by the batch's digest
(its analyses' rows, the settings, the code: :attr:`trialmeta.pipeline.plan.FigureBatch.digest`);
a table is the rows of all batches, in analysis order.

A batch is computed on its own in every run, from scratch or after an edit, and its tables are
read back from the cache entry either way: the tables do not depend on which batches came from
the cache, so a rerun from scratch writes the same bytes (issue 16: a one-row edit recomputes
one batch of the explore job instead of every analysis).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from trialmeta.pipeline import render_cache
from trialmeta.pipeline.jobs import read_parquet, write_parquet
from trialmeta.pipeline.plan import batch_index
from trialmeta.tables.exploration import exploration_tables
from trialmeta.tables.names import EXPLORATION_TABLES

__all__ = ["exploration_tables_by_batch"]


def exploration_tables_by_batch(
    effects: pd.DataFrame,
    trials: pd.DataFrame,
    settings,
    batches: dict[str, str],
    n_batches: int,
    cache_dir,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The exploration tables of all analyses (as :func:`exploration_tables` names them),
    computed per batch. ``batches``: ``{batch name: digest}`` of the plan's batches (names
    ``b000``, ``b001``, ...: :attr:`~trialmeta.pipeline.plan.FigureBatch.name`) and
    ``n_batches`` their number (:func:`~trialmeta.pipeline.plan.n_figure_batches`);
    ``cache_dir``: the cache's directory. Returns the tables and the names of the batches
    computed in this call (the others were read from the cache)."""
    if n_batches < 1:
        return exploration_tables(effects, trials, settings), []
    parts, computed = [], []
    for index, (eff, tri) in _members(effects, trials, n_batches).items():
        name, tables = f"b{index:03d}", None
        key = batches.get(name)
        if key is None or not render_cache.entry_dir(cache_dir, name, key).is_dir():
            tables = exploration_tables(eff, tri, settings)
            computed.append(name)
        if key is None:  # a batch the plan does not know (not in the workflow): not kept
            parts.append(_round_trip(tables, cache_dir))
            continue
        if tables is not None:
            _store(cache_dir, name, key, tables)
        parts.append(_read(render_cache.entry_dir(cache_dir, name, key)))
    render_cache.prune(cache_dir, batches)
    return {t: _combine([p[t] for p in parts]) for t in EXPLORATION_TABLES}, computed


def _members(effects, trials, n: int) -> dict[int, tuple[pd.DataFrame, pd.DataFrame]]:
    """``{batch index: (its effects rows, its trial rows)}`` of the batches with analyses."""
    ids = pd.unique(pd.concat([effects["analysis_id"], trials["analysis_id"]]).astype(str))
    index_of = {aid: batch_index(aid, n) for aid in ids}
    eff_batch = effects["analysis_id"].astype(str).map(index_of).to_numpy()
    tri_batch = trials["analysis_id"].astype(str).map(index_of).to_numpy()
    return {
        b: (
            effects[eff_batch == b].reset_index(drop=True),
            trials[tri_batch == b].reset_index(drop=True),
        )
        for b in sorted(set(index_of.values()))
    }


def _write(tables: dict, directory) -> dict[str, Path]:
    return {
        f"{t}.parquet": write_parquet(tables[t], Path(directory) / f"{t}.parquet")
        for t in EXPLORATION_TABLES
    }


def _read(directory) -> dict[str, pd.DataFrame]:
    return {t: read_parquet(Path(directory) / f"{t}.parquet") for t in EXPLORATION_TABLES}


def _store(cache_dir, name: str, key: str, tables: dict) -> None:
    # ".<batch>.": a leftover of a killed job is pruned with the batch's old entries
    with tempfile.TemporaryDirectory(dir=_ensure(cache_dir), prefix=f".{name}.tables.") as tmp:
        render_cache.store(cache_dir, name, key, _write(tables, tmp))


def _round_trip(tables: dict, cache_dir) -> dict[str, pd.DataFrame]:
    """The tables as a cache entry would give them back (Parquet types)."""
    with tempfile.TemporaryDirectory(dir=_ensure(cache_dir), prefix=".unplanned.") as tmp:
        _write(tables, tmp)
        return _read(tmp)


def _combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The batches' rows of one table in analysis order (each batch's rows keep their order
    within an analysis, as the table orders them)."""
    rows = [f for f in frames if len(f)]
    if not rows:
        return frames[0] if frames else pd.DataFrame()
    df = pd.concat(rows, ignore_index=True) if len(rows) > 1 else rows[0]
    if "analysis_id" in df:
        df = df.sort_values("analysis_id", kind="stable", ignore_index=True)
    return df


def _ensure(path) -> Path:
    Path(path).mkdir(parents=True, exist_ok=True)
    return Path(path)

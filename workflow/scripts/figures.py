"""Rule figures_b*: the forest plots and the exploration figures of one batch of analyses,
rendered in one process.

Writes <analysis_id>.<format> (forest plot) and <analysis_id>.<kind>.<format> (subgroup forest,
bubble, leave-one-out, cumulative and funnel plots; trialmeta.plots.names) into the job's output
directory (figures_<batch>.<digest>); the directories of the same batch with an older digest are
removed afterwards. Analyses whose digest (rows, settings, code) is in the render cache are not
drawn again: their files are linked from the cache (trialmeta.pipeline.render_cache), so a one-row
edit redraws one analysis, not its whole batch.
"""

from trialmeta.pipeline.render_cache import missing
from trialmeta.pipeline.warm_start import hand_over

#: A batch with more analyses to draw than this starts on its own instead of in a fork of the
#: warm process: drawing in a fork was measured 20-35% slower (2026-12-03, 250 analyses, cold
#: and forked alternately), while the fork saves ~1.5 CPU-s of imports, i.e. ~40 analyses'
#: worth of that slowdown (issue 16). A one-row edit redraws one analysis: forked.
FORK_AT_MOST = 25


def _to_draw(params) -> int:
    """Analyses of this batch whose figures are not in the render cache."""
    digests = dict(params.digests)
    return missing(params.cache_dir, {aid: digests[aid] for aid in params.analysis_ids})


if _to_draw(snakemake.params) <= FORK_AT_MOST:  # noqa: F821 - injected by Snakemake
    hand_over()  # in a local run: this job runs forked from the run's warm process

import shutil
import time
from pathlib import Path

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline import render_cache
from trialmeta.pipeline.console import chunks_with_progress
from trialmeta.pipeline.jobs import read_rows_of, run_step
from trialmeta.plots.exploration_figures import render_exploration_figures
from trialmeta.plots.forest import render_forest_plots
from trialmeta.plots.names import split_figure_name


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    ids = list(snakemake.params.analysis_ids)
    formats = settings.figures.formats
    out_dir = Path(snakemake.output[0])

    def rows(path):  # this batch's rows only (a 10,000-analysis table is not made a DataFrame)
        return read_rows_of(path, ids)

    cache, digests = snakemake.params.cache_dir, dict(snakemake.params.digests)
    out_dir.mkdir(parents=True, exist_ok=True)
    cached = {
        aid for aid in ids if render_cache.restore(cache, aid, digests[aid], out_dir) is not None
    }
    ids = [aid for aid in ids if aid not in cached]
    pooled, studies, trials = (
        rows(snakemake.input.pooled),
        rows(snakemake.input.studies),
        rows(snakemake.input.trials),
    )
    tables = {Path(p).stem: rows(p) for p in snakemake.input.exploration}
    rob = rows(snakemake.input.rob) if "rob" in snakemake.input.keys() else None

    def draw(chunk):
        t0 = time.perf_counter()
        forest = render_forest_plots(
            pooled, studies, trials, settings, out_dir, chunk, formats=formats, rob=rob
        )
        t1 = time.perf_counter()
        more = render_exploration_figures(
            pooled, studies, trials, tables, settings, out_dir, chunk, formats=formats
        )
        return forest, more, t1 - t0

    started = time.perf_counter()
    written, extra, forest_s = [], [], 0.0
    for chunk in chunks_with_progress(ids, snakemake.params.batch, what="analyses (figures)"):
        chunk_written, chunk_extra, chunk_s = draw(chunk)
        written, extra, forest_s = written + chunk_written, extra + chunk_extra, forest_s + chunk_s
    log.info(
        "render seconds: forest %.3f, exploration %.3f (%d files; %d analyses from the cache)",
        forest_s,
        time.perf_counter() - started - forest_s,
        len(extra),
        len(cached),
    )
    by_id = {}
    for p in [*written, *extra]:
        by_id.setdefault(split_figure_name(Path(p).name)[0], []).append(p)
    for aid in ids:
        render_cache.store(cache, aid, digests[aid], by_id.get(aid, []))
    render_cache.prune(cache, digests)
    ids = ids + sorted(cached)
    expected = {f"{aid}.{fmt}" for aid in ids for fmt in formats}
    missing = expected - {p.name for p in out_dir.iterdir()}
    if missing:
        raise RuntimeError(f"forest plots not written: {sorted(missing)[:5]}")
    stale = [d for d in out_dir.parent.glob(f"figures_{snakemake.params.batch}.*") if d != out_dir]
    for d in stale:
        shutil.rmtree(d, ignore_errors=True)
    log.info(
        "%d analyses -> %d files (%d stale batch directories removed)",
        len(ids),
        len(written) + len(extra),
        len(stale),
    )


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

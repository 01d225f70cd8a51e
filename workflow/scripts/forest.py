"""Rule forest_b*: the forest plots of one batch of analyses, rendered in one process.

Writes <analysis_id>.<format> into the job's output directory (forest_<batch>.<digest>); the
directories of the same batch with an older digest are removed afterwards.
"""

import shutil
import time
from pathlib import Path

from trialmeta.plots.forest import render_forest_plots
from trialmeta.workflow_io import read_parquet, run_step


def main(snakemake, log):
    config = snakemake.params.config
    ids = list(snakemake.params.analysis_ids)
    formats = tuple(config["figures"]["formats"])
    out_dir = Path(snakemake.output[0])
    pooled = read_parquet(snakemake.input.pooled)
    studies = read_parquet(snakemake.input.studies)
    trials = read_parquet(snakemake.input.trials)
    pooled = pooled[pooled["analysis_id"].isin(ids)]
    studies = studies[studies["analysis_id"].isin(ids)]
    trials = trials[trials["analysis_id"].isin(ids)]
    started = time.perf_counter()
    written = render_forest_plots(pooled, studies, trials, config, out_dir, ids, formats=formats)
    log.info("render seconds: %.3f", time.perf_counter() - started)
    expected = {f"{aid}.{fmt}" for aid in ids for fmt in formats}
    missing = expected - {p.name for p in out_dir.iterdir()}
    if missing:
        raise RuntimeError(f"forest plots not written: {sorted(missing)[:5]}")
    stale = [d for d in out_dir.parent.glob(f"forest_{snakemake.params.batch}.*") if d != out_dir]
    for d in stale:
        shutil.rmtree(d, ignore_errors=True)
    log.info("%d analyses -> %d files (%d stale batch directories removed)", len(ids), len(written), len(stale))


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

"""Rule explore: subgroups, meta-regression, leave-one-out, influence, cumulative, small-study
and sparse-data tables of every analysis (trialmeta.tables.exploration.exploration_tables),
computed per batch of analyses and kept between runs (trialmeta.pipeline.explore_batches), and
the CSV lines of unchanged analyses with them (trialmeta.pipeline.csv_reuse)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

from pathlib import Path

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.csv_reuse import write_csv_reusing_lines
from trialmeta.pipeline.explore_batches import exploration_tables_by_batch
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet


def main(snakemake, log):
    effects = read_parquet(snakemake.input.effects)
    trials = read_parquet(snakemake.input.trials)
    params = snakemake.params
    tables, computed = exploration_tables_by_batch(
        effects,
        trials,
        Settings.from_config(params.config),
        dict(params.batches),
        params.n_batches,
        params.cache_dir,
    )
    log.info(
        "%d of %d batches of analyses computed, the others kept from an earlier run",
        len(computed),
        len(params.batches),
    )
    for csv, parquet in zip(snakemake.output.csv, snakemake.output.parquet):
        name = Path(csv).stem
        write_csv_reusing_lines(tables[name], csv, params.csv_cache)
        write_parquet(tables[name], parquet)
        log.info("%s.csv: %d rows", name, len(tables[name]))


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

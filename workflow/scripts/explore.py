"""Rule explore: subgroups, meta-regression, leave-one-out, influence, cumulative, small-study
and sparse-data tables of every analysis (trialmeta.tables.exploration.exploration_tables)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

from pathlib import Path

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.tables.exploration import exploration_tables


def main(snakemake, log):
    effects = read_parquet(snakemake.input.effects)
    trials = read_parquet(snakemake.input.trials)
    tables = exploration_tables(effects, trials, Settings.from_config(snakemake.params.config))
    for csv, parquet in zip(snakemake.output.csv, snakemake.output.parquet):
        name = Path(csv).stem
        if name not in tables:
            raise RuntimeError(
                f"trialmeta.tables.exploration.exploration_tables returned no {name!r} table"
            )
        write_csv_safely(tables[name], csv)
        write_parquet(tables[name], parquet)
        log.info("%s.csv: %d rows", name, len(tables[name]))


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

"""Rule single_arm: the pre-post correlation sensitivity of the single-arm change analyses
(trialmeta.tables.single_arm.prepost_sensitivity)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.tables.pooled import pool_analyses
from trialmeta.tables.single_arm import prepost_sensitivity


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    trials = read_parquet(snakemake.input.trials)
    table = prepost_sensitivity(trials, list(settings.group_by), settings, pool_analyses)
    write_parquet(table, snakemake.output.parquet)
    write_csv_safely(table, snakemake.output.csv)
    log.info("single_arm_sensitivity.csv: %d rows", len(table))


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

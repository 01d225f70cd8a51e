"""Rule crosscheck: the primary random-effects results recomputed by PyMARE and statsmodels
(trialmeta.tables.crosscheck) -> tables/crosscheck.csv and the summary the report and the
console read."""

from trialmeta.pipeline.warm_start import hand_over

hand_over(engines=True)  # in a local run: forked from the warm copy with PyMARE and statsmodels

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_json
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.tables.crosscheck import (
    crosscheck_notes,
    crosscheck_summary,
    crosscheck_table,
    engine_versions,
)


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    methods = list(settings.tau2_methods)
    table, info = crosscheck_table(
        read_parquet(snakemake.input.pooled), read_parquet(snakemake.input.studies), methods
    )
    write_csv_safely(table, snakemake.output.csv)
    summary = crosscheck_summary(table, info["explanations"])
    summary["notes"] = crosscheck_notes(summary, info, engine_versions(), methods)
    write_json(summary, snakemake.output.summary)
    for line in summary["notes"]:
        log.info("%s", line)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

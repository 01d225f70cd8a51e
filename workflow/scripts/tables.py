"""Rule tables: pooled.csv, studies.csv (formula-safe CSV; the lines of unchanged analyses kept
from the last run, trialmeta.pipeline.csv_reuse) and warnings.csv."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import json

import pandas as pd

from trialmeta.pipeline.csv_reuse import write_csv_reusing_lines
from trialmeta.pipeline.jobs import read_parquet, run_step
from trialmeta.pipeline.safe_csv import write_csv_safely

WARNING_COLUMNS = ["file", "row", "column", "value", "severity", "message", "text"]


def main(snakemake, log):
    for name in ("pooled", "studies"):
        df = read_parquet(snakemake.input[name])
        _, formatted = write_csv_reusing_lines(
            df, snakemake.output[name], snakemake.params.csv_cache
        )
        log.info("%s.csv: %d rows (%d groups of analyses formatted)", name, len(df), formatted)
    with open(snakemake.input.warnings, encoding="utf-8") as fh:
        records = json.load(fh)
    warnings = pd.DataFrame(records, columns=WARNING_COLUMNS)
    warnings["row"] = warnings["row"].astype("Int64")
    write_csv_safely(warnings, snakemake.output.warnings)
    log.info("warnings.csv: %d rows", len(warnings))


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

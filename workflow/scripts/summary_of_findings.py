"""Rule summary_of_findings: summary_of_findings.csv, grade_signals.csv, the Word document and
the evidence map (trialmeta.tables.summary_of_findings, trialmeta.plots.evidence_map, drawn or
from its cache: trialmeta.plots.evidence_map_cache)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import logging

import pandas as pd

from trialmeta.inputs.grade_judgements import read_grade_judgements
from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import PROGRESS_LOGGER, read_parquet, run_step, write_parquet
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.plots.evidence_map_cache import write_evidence_map
from trialmeta.plots.evidence_map_layout import map_axes
from trialmeta.report.sof_docx import write_sof_docx
from trialmeta.tables.summary_of_findings import summary_of_findings_tables


def optional_csv(paths):
    """The table of the one optional input (header-only tables give an empty frame), or None."""
    return pd.read_csv(paths[0]) if paths else None


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    pooled = read_parquet(snakemake.input.pooled)
    judgements = read_grade_judgements(settings.grade_judgements, pooled["analysis_id"].unique())
    rob = optional_csv(snakemake.input.rob)
    sof, signals = summary_of_findings_tables(
        pooled,
        read_parquet(snakemake.input.studies),
        read_parquet(snakemake.input.trials),
        settings,
        small_study=read_parquet(snakemake.input.small_study),
        rob=rob,
        rob_sensitivity=optional_csv(snakemake.input.rob_sensitivity),
        judgements=judgements,
    )
    write_csv_safely(sof, snakemake.output.csv)
    write_csv_safely(signals, snakemake.output.signals)
    write_parquet(sof, snakemake.output.parquet)
    write_parquet(signals, snakemake.output.signals_parquet)
    text = pd.read_csv(snakemake.output.csv, dtype=str, keep_default_na=False)
    write_sof_docx(sof, signals, text, snakemake.output.docx)
    # from the previous run's files when the cells it draws are unchanged (matplotlib not imported)
    write_evidence_map(
        sof,
        optional_csv(snakemake.input.interactions),
        snakemake.output.figures,
        cache_dir=snakemake.params.cache_dir,
        code=snakemake.params.code,
    )
    note = map_axes(sof).note  # a bounded grid at scale: say what the figure leaves out
    if note:
        logging.getLogger(PROGRESS_LOGGER).warning("evidence map: %s", note)
    log.info(
        "summary_of_findings.csv: %d rows (%d analyses; risk of bias %s; %d reviewer judgements)",
        len(sof),
        sof["analysis_id"].nunique() if len(sof) else 0,
        "given" if rob is not None and len(rob) else "not assessed",
        len(judgements),
    )


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

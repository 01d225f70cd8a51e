"""Rule risk_of_bias: the RoB 2 judgement tables checked and matched to the analyses
(trialmeta.inputs.risk_of_bias), risk_of_bias.csv and rob_sensitivity.csv
(trialmeta.tables.risk_of_bias) and the traffic-light and summary plots of every analysis with
judgements (trialmeta.plots.risk_of_bias)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import shutil
from pathlib import Path

from trialmeta.inputs.risk_of_bias import load_risk_of_bias
from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.plots.labels import analysis_labels
from trialmeta.tables.risk_of_bias import risk_of_bias_table, rob_sensitivity_table


def draw_figures(rob, out, titles, formats) -> list:
    """The traffic-light and summary plots of the judged analyses (none without judgements).
    Matplotlib (trialmeta.plots.risk_of_bias) is imported only when there is one to draw: a
    run without risk-of-bias tables saves ~0.3 s of this job's start-up."""
    if not len(rob):
        return []
    from trialmeta.plots.risk_of_bias import render_rob_figures

    return render_rob_figures(rob, out, titles, formats=formats)


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    files = list(snakemake.params.files)
    trials = read_parquet(snakemake.input.trials)
    log.info("reading %d risk-of-bias table(s): %s", len(files), ", ".join(files) or "none")
    judgements = load_risk_of_bias(files, trials, settings.group_by)
    pooled = read_parquet(snakemake.input.pooled)
    rob = risk_of_bias_table(
        judgements, read_parquet(snakemake.input.studies), pooled, settings.group_by
    )
    sensitivity = rob_sensitivity_table(
        read_parquet(snakemake.input.effects), judgements, pooled, settings
    )
    log.info(
        "%d judged trial rows in %d analyses",
        len(rob),
        rob["analysis_id"].nunique() if len(rob) else 0,
    )
    write_parquet(judgements, snakemake.output.judgements)
    write_parquet(rob, snakemake.output.rob_parquet)
    write_parquet(sensitivity, snakemake.output.sensitivity_parquet)
    write_csv_safely(rob, snakemake.output.rob)
    write_csv_safely(sensitivity, snakemake.output.sensitivity)
    out = Path(snakemake.output.figures)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    titles = {}
    for aid, rows in trials[trials["analysis_id"].isin(set(rob["analysis_id"]))].groupby(
        "analysis_id"
    ):
        labels = analysis_labels(rows)
        titles[aid] = " \u2014 ".join(
            x for x in (labels["therapy"], labels["condition"], labels["outcome"]) if x
        )
    written = draw_figures(rob, out, titles, settings.figures.formats)
    log.info("%d risk-of-bias figure files", len(written))


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

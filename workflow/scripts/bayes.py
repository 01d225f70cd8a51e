"""Rule bayes: the Bayesian random-effects posterior of every analysis in one batched job
(trialmeta.tables.bayes.bayes_table -> tables/bayes.csv when the ``bayes`` setting is on), the
modified HKSJ interval of the analyses with fewer than ``few_trials_k`` trials
(trialmeta.tables.bayes.few_trials_table) and their posterior figures
(trialmeta.plots.posterior; <analysis_id>.posterior.<fmt>), for the report's "few trials" panel."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import shutil
from pathlib import Path

from trialmeta.inputs.priors import bayes_priors
from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.tables.bayes import bayes_table, few_trials_table, primary_studies


def draw_figures(bayes, few, pooled, studies, settings, out_dir, log):
    """The posterior figure of every few-trials analysis with a posterior."""
    priors = bayes_priors(settings.bayes)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    if priors is None or bayes.empty:
        return
    # matplotlib only when there is a figure to draw (most runs have none: ~0.3 s of start-up)
    from trialmeta.plots.posterior import posterior_plot, posterior_stem
    from trialmeta.plots.style import save_figure

    _, rows = primary_studies(pooled, studies, list(settings.group_by))
    formats = [f for f in settings.figures.formats if f in ("svg", "png")] or ["svg"]
    chosen = bayes[bayes["analysis_id"].isin(few["analysis_id"]) & bayes["mu_median"].notna()]
    for row in chosen.to_dict("records"):
        mine = rows[rows["analysis_id"] == row["analysis_id"]]
        prior = priors.for_measure(row["measure"])[0]
        fig = posterior_plot(mine["yi"], mine["vi"], row, prior, priors.mu_prior)
        save_figure(fig, out_dir / posterior_stem(row["analysis_id"]), formats)
    log.info("posterior figures: %d analyses", len(chosen))


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    pooled = read_parquet(snakemake.input.pooled)
    studies = read_parquet(snakemake.input.studies)
    trials = read_parquet(snakemake.input.trials)
    bayes = bayes_table(pooled, studies, trials, settings)
    for csv in snakemake.output.csv:  # none when the bayes setting is off
        write_csv_safely(bayes, csv)
    write_parquet(bayes, snakemake.output.parquet)
    counts = bayes["status"].value_counts().to_dict() if len(bayes) else {}
    log.info("bayes.csv: %d analyses, status %s", len(bayes), counts)
    few = few_trials_table(pooled, studies, settings)
    write_parquet(few, snakemake.output.few_trials)
    draw_figures(bayes, few, pooled, studies, settings, Path(snakemake.output.figures), log)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

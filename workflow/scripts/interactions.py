"""Rule interactions: the interaction tables, ICEMAN items and figures of every analysis x
subgroup variable in one job (trialmeta.tables.interactions, trialmeta.tables.iceman,
trialmeta.plots.interaction_forest)."""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import logging
from pathlib import Path

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import (
    PROGRESS_LOGGER,
    empty_dir,
    read_parquet,
    run_step,
    write_parquet,
)
from trialmeta.pipeline.safe_csv import write_csv_safely
from trialmeta.tables.iceman import credibility_table, read_judgements
from trialmeta.tables.interactions import interaction_tables


def draw_figures(tables, settings, out_dir) -> int:
    """The interaction figures into ``out_dir`` (emptied first); returns the number drawn.
    Matplotlib (trialmeta.plots.interaction_forest) is imported only when there is an
    interaction to draw: most runs have none, and the import is ~0.5 s of this job's start-up."""
    if not len(tables["interactions"]):
        empty_dir(out_dir)
        return 0
    from trialmeta.plots.interaction_forest import draw_interaction_figures

    return draw_interaction_figures(tables, settings, out_dir)


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    subgroups = read_parquet(snakemake.input.subgroups)
    tables = interaction_tables(subgroups, settings)
    tables["subgroup_rows"] = subgroups  # prespecified, hypothesised_direction (ICEMAN)
    judgements = read_judgements(settings.credibility) if settings.credibility else {}
    tables["interaction_credibility"] = credibility_table(tables, settings, judgements)
    for csv in snakemake.output.csv:
        write_csv_safely(tables[Path(csv).stem], csv)
    for parquet in snakemake.output.parquet:
        write_parquet(tables[Path(parquet).stem], parquet)
    n = draw_figures(tables, settings, snakemake.output.figures)
    within = tables["interactions"].query("method == 'within_trial' and model == 'random'")
    if len(within):  # what the user must know, on the console
        logging.getLogger(PROGRESS_LOGGER).info(
            "%d biomarker question(s) (analysis x subgroup variable), %d pooled across 2+ "
            "trials: tables/interactions.csv and the report's 'Does the biomarker change the "
            "effect?' sections",
            len(within),
            int((within["k"] >= 2).sum()),
        )
    log.info(
        "%d interaction rows, %d trial interactions, %d figures",
        len(tables["interactions"]),
        len(tables["interaction_studies"]),
        n,
    )


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

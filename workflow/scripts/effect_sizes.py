"""Rule effect_sizes: one row per study x measure (trialmeta.stats.effect_sizes.compute_effect_sizes)."""

from trialmeta.inputs.settings import Settings
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet
from trialmeta.tables.effects import compute_effect_sizes


def main(snakemake, log):
    settings = Settings.coerce(snakemake.params.config)
    trials = read_parquet(snakemake.input.trials)
    effects = compute_effect_sizes(
        trials, measures=settings.measures.as_dict(), continuity=settings.continuity.as_dict()
    )
    log.info("%d trial rows -> %d effect rows", len(trials), len(effects))
    write_parquet(effects, snakemake.output.effects)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

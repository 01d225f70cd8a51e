"""Rule effect_sizes: one row per study x measure (trialmeta.stats.effect_sizes.compute_effect_sizes)."""

from trialmeta.tables.effects import compute_effect_sizes
from trialmeta.pipeline.jobs import read_parquet, run_step, write_parquet


def main(snakemake, log):
    config = snakemake.params.config
    trials = read_parquet(snakemake.input.trials)
    effects = compute_effect_sizes(trials, measures=config["measures"], continuity=config["continuity"])
    log.info("%d trial rows -> %d effect rows", len(trials), len(effects))
    write_parquet(effects, snakemake.output.effects)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

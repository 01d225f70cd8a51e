"""Rule validate: read every trial table, check all rows at once, assign analysis ids.

On bad input the rule fails with every problem, one per line (``file:row: column=value rule``),
and writes nothing. Output: the typed trials table and the warnings (shown in the report).
"""

from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.config import check_config_columns
from trialmeta.inputs.ingest import load_trials
from trialmeta.inputs.settings import Settings
from trialmeta.inputs.validate import validate_trials
from trialmeta.pipeline.jobs import problems_to_records, run_step, write_json, write_parquet
from trialmeta.pipeline.plan import ids_digest


def main(snakemake, log):
    settings = Settings.coerce(snakemake.params.config)
    group_by = list(settings.group_by)
    files = list(snakemake.input.trials)
    log.info("reading %d trial table(s): %s", len(files), ", ".join(files))
    raw = load_trials(files)
    check_config_columns(settings, raw)
    trials, warnings = validate_trials(
        raw, group_by, min_studies=settings.min_studies, duplicates=settings.duplicates
    )
    trials = assign_analysis_ids(trials, group_by)
    ids = sorted(set(trials["analysis_id"]))
    if snakemake.params.plan_ok and ids_digest(ids) != snakemake.params.plan_ids:
        raise RuntimeError(
            "the analyses found by the validate job differ from those the workflow planned at "
            "parse time; rerun snakemake (the plan cache is refreshed from the tables)"
        )
    log.info("%d rows, %d analyses, %d warning(s)", len(trials), len(ids), len(warnings))
    for w in warnings:
        log.info("%s", w)
    write_parquet(trials, snakemake.output.trials)
    write_json(problems_to_records(warnings), snakemake.output.warnings)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

"""Rule validate: read every trial table, check all rows at once, assign analysis ids.

On bad input the rule fails with every problem, one per line (``file:row: column=value rule``),
and writes nothing. Output: the typed trials table and the warnings (shown in the report).
"""

from trialmeta.pipeline.warm_start import hand_over

hand_over()  # in a local run: this job runs forked from the run's warm process

import logging

from trialmeta.inputs.analyses import assign_analysis_ids
from trialmeta.inputs.config import check_config_columns
from trialmeta.inputs.ingest import load_trials
from trialmeta.inputs.multi_arm import resolve_multi_arm
from trialmeta.inputs.settings import Settings
from trialmeta.inputs.single_arm import single_arm_warnings
from trialmeta.inputs.subgroup_rows import validate_with_subgroups
from trialmeta.pipeline.console import PROGRESS_LOGGER
from trialmeta.pipeline.jobs import problems_to_records, run_step, write_json, write_parquet
from trialmeta.pipeline.plan import ids_digest


def main(snakemake, log):
    settings = Settings.from_config(snakemake.params.config)
    group_by = list(settings.group_by)
    files = list(snakemake.input.trials)
    log.info("reading %d trial table(s): %s", len(files), ", ".join(files))
    raw = load_trials(files)
    check_config_columns(settings, raw)
    # subgroup rows (issue 11) are checked with the others and kept out of the main table
    trials, warnings, subgroups = validate_with_subgroups(
        raw, group_by, min_studies=settings.min_studies, duplicates=settings.duplicates
    )
    # multi-arm trials split / combined / refused (config multi_arm; trialmeta.inputs.multi_arm)
    trials, multi_arm_notes = resolve_multi_arm(trials, group_by, settings.multi_arm)
    warnings = sorted(warnings + multi_arm_notes, key=lambda p: (p.file, p.row or 0))
    for note in multi_arm_notes:  # on the console too: the analysis differs from the rows
        logging.getLogger(PROGRESS_LOGGER + ".validate").info("%s", note)
    trials = assign_analysis_ids(trials, group_by)
    # single-arm rows (issue 17): overlapping cohorts, the Freeman-Tukey back-transformation
    warnings = sorted(
        warnings + single_arm_warnings(trials, settings.measures.single_arm_proportion),
        key=lambda p: (p.file, p.row or 0),
    )
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
    write_parquet(subgroups, snakemake.output.subgroups)
    write_json(problems_to_records(warnings), snakemake.output.warnings)


run_step(snakemake, main)  # noqa: F821 - injected by Snakemake

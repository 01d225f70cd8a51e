rule tables:
    """The result tables as CSV (spreadsheet-safe) beside the Parquet copies, and the warnings."""
    input:
        pooled=rules.pool.output.pooled,
        studies=rules.pool.output.studies,
        warnings=rules.validate.output.warnings,
    output:
        pooled=report(
            stage("tables", "pooled.csv"),
            caption="../report/pooled.rst",
            category="Tables",
        ),
        studies=report(
            stage("tables", "studies.csv"),
            caption="../report/studies.rst",
            category="Tables",
        ),
        warnings=report(
            stage("tables", "warnings.csv"),
            caption="../report/warnings.rst",
            category="Tables",
        ),
    log:
        log_file("tables"),
    # first among the jobs that wait for pooling (with the cross-check): the comparison with the
    # last run (rules/changes.smk) waits for it, and the report for both (issue 16)
    priority: 1
    conda:
        CONDA_ENV
    params:
        # the CSV lines of analyses whose rows did not change (trialmeta.pipeline.csv_reuse)
        csv_cache=work("render_cache", "csv", "tables"),
    script:
        "../scripts/tables.py"

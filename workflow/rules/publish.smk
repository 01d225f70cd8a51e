rule publish:
    """Copy the finished run from the staging area into the results directory (report swapped last)."""
    input:
        tables=multiext(
            stage("tables", ""),
            "pooled.csv",
            "studies.csv",
            "warnings.csv",
            "pooled.parquet",
            "studies.parquet",
        ),
        exploration=rules.explore.output.csv,
        crosscheck=rules.crosscheck.output.csv,
        changes_csv=rules.changes.output.csv,
        changes_json=rules.changes.output.json,
        figures=FIGURE_DIRS,
        report=rules.report.output.report,
        provenance=rules.provenance.output.provenance,
    output:
        published=PUBLISHED,
    log:
        log_file("publish"),
    conda:
        CONDA_ENV
    params:
        results=RESULTS,
        changes_key=CHANGES_KEY,
    script:
        "../scripts/publish.py"

rule report:
    """The offline HTML report: an index of all analyses and one page per analysis."""
    input:
        pooled=rules.pool.output.pooled,
        studies=rules.pool.output.studies,
        trials=rules.validate.output.trials,
        warnings=rules.validate.output.warnings,
        provenance=rules.provenance.output.provenance,
        changes=rules.changes.output.json,
        crosscheck=rules.crosscheck.output.summary,
        exploration=rules.explore.output.parquet,
        figures=FIGURE_DIRS,
    output:
        report=directory(stage("report")),
    log:
        log_file("report"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        # pages whose inputs did not change are linked from here, not rendered again
        cache_dir=work("render_cache", "report"),
    script:
        "../scripts/report.py"

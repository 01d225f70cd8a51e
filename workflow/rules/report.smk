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
        single_arm=rules.single_arm.output.parquet,  # rules/single_arm.smk
        figures=FIGURE_DIRS,
        rob=rules.risk_of_bias.output.rob_parquet,
        rob_sensitivity=rules.risk_of_bias.output.sensitivity_parquet,
        rob_figures=rules.risk_of_bias.output.figures,
        # Summary of Findings page and evidence map (rules/summary_of_findings.smk)
        sof=rules.summary_of_findings.output.parquet,
        sof_signals=rules.summary_of_findings.output.signals_parquet,
        evidence_map=rules.summary_of_findings.output.figures,
        # "few trials" panel: posterior, modified HKSJ, posterior figures (rules/bayes.smk)
        bayes=rules.bayes.output.parquet,
        few_trials=rules.bayes.output.few_trials,
        bayes_figures=rules.bayes.output.figures,
        # "Does the biomarker change the effect?" (rules/interactions.smk)
        interactions=rules.interactions.output.parquet,
        interaction_figures=rules.interactions.output.figures,
    output:
        report=directory(stage("report")),
    log:
        log_file("report"),
    conda:
        CONDA_ENV
    # the pages are rendered by forked copies of the job, one per thread (issue 16: the report
    # was the run's serial tail); the files are the same for any number of threads. At most 4:
    # each copy grows to about the size of the job (0.3 GB at 1,000 analyses)
    threads: min(workflow.cores, 4)
    params:
        config=CFG,
        # pages whose inputs did not change are linked from here, not rendered again
        cache_dir=work("render_cache", "report"),
        # compiled Jinja2 templates, kept between runs
        template_cache_dir=work("render_cache", "templates"),
    script:
        "../scripts/report.py"

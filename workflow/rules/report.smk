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
    params:
        config=CFG,
        # pages whose inputs did not change are linked from here, not rendered again
        cache_dir=work("render_cache", "report"),
    script:
        "../scripts/report.py"

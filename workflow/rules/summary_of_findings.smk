rule summary_of_findings:
    """Absolute effects, GRADE signals and certainty per analysis (summary_of_findings.csv,
    grade_signals.csv, summary_of_findings.docx) and the run's evidence map."""
    input:
        pooled=rules.pool.output.pooled,
        studies=rules.pool.output.studies,
        trials=rules.validate.output.trials,
        small_study=work("exploration", "small_study.parquet"),
        rob=sof_optional("risk_of_bias", "tables", "risk_of_bias.csv"),
        rob_sensitivity=sof_optional("risk_of_bias", "tables", "rob_sensitivity.csv"),
        interactions=sof_optional("interactions", "tables", "interactions.csv"),
        judgements=[SETTINGS.grade_judgements] if SETTINGS.grade_judgements else [],
    output:
        csv=stage("tables", "summary_of_findings.csv"),
        signals=stage("tables", "grade_signals.csv"),
        docx=stage("summary_of_findings.docx"),
        figures=expand(stage("figures", "evidence_map.{fmt}"), fmt=FIGURE_FORMATS),
        parquet=work("summary_of_findings", "summary_of_findings.parquet"),
        signals_parquet=work("summary_of_findings", "grade_signals.parquet"),
    log:
        log_file("summary_of_findings"),
    conda:
        CONDA_ENV
    params:
        config=CFG,
        code=PLAN["code"],
        # the evidence map's files while the cells it draws are unchanged
        # (trialmeta.plots.evidence_map_cache)
        cache_dir=work("render_cache", "evidence_map"),
    script:
        "../scripts/summary_of_findings.py"

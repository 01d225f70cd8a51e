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
        single_arm=rules.single_arm.output.csv,
        interactions=rules.interactions.output.csv,
        interaction_figures=rules.interactions.output.figures,
        crosscheck=rules.crosscheck.output.csv,
        changes_csv=rules.changes.output.csv,
        changes_json=rules.changes.output.json,
        figures=FIGURE_DIRS,
        rob_tables=[
            rules.risk_of_bias.output.rob,
            rules.risk_of_bias.output.sensitivity,
        ],
        rob_figures=rules.risk_of_bias.output.figures,
        report=rules.report.output.report,
        provenance=rules.provenance.output.provenance,
        # published at their place under the staging area (rules/summary_of_findings.smk)
        staged=[
            rules.summary_of_findings.output.csv,
            rules.summary_of_findings.output.signals,
            rules.summary_of_findings.output.docx,
            *rules.summary_of_findings.output.figures,
            *BAYES_TABLES,  # tables/bayes.csv when the bayes setting is on (rules/bayes.smk)
        ],
    output:
        published=PUBLISHED,
    log:
        log_file("publish"),
    conda:
        CONDA_ENV
    params:
        results=RESULTS,
        # a function, not the path: the staging root is also the folder of staged inputs
        stage=lambda wildcards: STAGE,
        changes_key=CHANGES_KEY,
    script:
        "../scripts/publish.py"

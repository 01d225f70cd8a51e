# One figure job per batch of analyses (trialmeta.pipeline.plan.figure_batches): the forest plot
# and the exploration figures (trialmeta.plots.exploration_figures) of each analysis. The tables
# are ancient() inputs and each output directory name carries the digest of its analyses (rows,
# settings, code): a batch reruns when one of its analyses changed (its new directory is
# missing), not whenever another analysis changed the pooled table.
for batch in FIGURE_BATCHES:

    rule:
        name:
            f"figures_{batch.name}"
        input:
            # plain path strings: ancient() flags the file object it is given, and the rules'
            # output objects are shared with the inputs of other rules
            pooled=ancient(stage("tables", "pooled.parquet")),
            studies=ancient(stage("tables", "studies.parquet")),
            trials=ancient(work("validated", "trials.parquet")),
            # subgroups, meta-regression, leave-one-out, cumulative, small-study tables: the
            # subgroup forest, bubble, leave-one-out, cumulative and funnel plots
            exploration=ancient(
                expand(work("exploration", "{name}.parquet"), name=FIGURE_TABLES)
            ),
            # risk-of-bias judgements: RoB columns on the forest plots (rules/risk_of_bias.smk)
            rob=ancient(work("risk_of_bias", "judgements.parquet")),
        output:
            (
                report(
                    directory(figures_dir(batch)),
                    patterns=["{name}.svg"],
                    caption="../report/forest.rst",
                    category="Forest plots",
                )
                if FIGURES_IN_SNAKEMAKE_REPORT
                else directory(figures_dir(batch))
            ),
        log:
            log_file(f"figures_{batch.name}"),
        conda:
            CONDA_ENV
        params:
            analysis_ids=batch.analysis_ids,
            digests=batch.digests,
            cache_dir=work("render_cache", "figures"),
            batch=batch.name,
            config=CFG,
        script:
            "../scripts/figures.py"

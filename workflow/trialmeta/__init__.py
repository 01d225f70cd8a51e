"""trialmeta: batched meta-analysis of two-arm trial outcomes, numerically matching R's metafor.

One call from a trials table (the columns of ``data/README.md``) to pooled estimates::

    import pandas as pd, trialmeta
    res = trialmeta.meta_analysis(pd.read_csv("trials.csv"), measure="RR",
                                  group_by=["therapy_class", "outcome"])
    print(res[0].summary()); res.to_frame(); res.conf_int(0.90); res.leave_one_out().to_frame()

Public API (imported on first use, so ``import trialmeta`` stays cheap):

Meta-analysis of a trials table
    meta_analysis         validate, compute effect sizes and pool one analysis or many (group_by)
    MetaAnalysisResult    its result: to_frame(), studies_frame(), summary(), conf_int(level),
                          leave_one_out(), influence(), cumulative(), subgroups(),
                          metaregression(), small_study()
    ExplorationResult     an exploration table with to_frame()
    load_trials           read CSV / TSV / .xlsx trial tables as the workflow does (text cells)
    InputError            every problem of a trials table at once (file, row, column, rule)

Tables (pandas in, pandas out; what the workflow jobs call)
    compute_effect_sizes  the effects table: one row per study x measure
    pool_analyses         the pooled and studies tables of every analysis x measure x model
    leave_one_out_table, influence_table, cumulative_table, subgroups_table,
    metaregression_table, small_study_table
                          the exploration tables (columns of results/tables/<name>.csv)

Statistics on arrays (NumPy; K analyses at once)
    StudyBatch            K analyses padded to a common width (yi, vi, mask)
    PooledResult          pooled estimates of K analyses under one model; to_frame()
    binary_effects        OR / RR / RD from 2x2 counts (metafor's escalc, continuity correction)
    continuous_effects    MD / SMD (Hedges' g) from arm means, SDs and sizes
    generic_effects       reported estimates (yi, sei or estimate and CI) on the analysis scale
    estimate_tau2         between-study variance: REML, DL, PM, ML, EB, SJ, HE, HS
    random_effects        random-effects pooling (Wald or Hartung-Knapp-Sidik-Jonkman CI, PI)
    fixed_effect          inverse-variance fixed-effect pooling
    leave_one_out         each analysis re-pooled without each study (metafor leave1out)
    cumulative            cumulative meta-analysis in a given study order (metafor cumul)
    influence             case-deletion diagnostics (Viechtbauer & Cheung 2010)
    subgroup_analysis     pooling within moderator levels and the test for subgroup differences
    meta_regression       mixed-effects meta-regression (z or Knapp-Hartung tests)
    egger_test            Egger's regression test for funnel-plot asymmetry
    rank_test             Begg & Mazumdar's rank correlation test
    trim_and_fill         Duval & Tweedie's trim-and-fill (L0 estimator)

Result objects of the exploration statistics share one table protocol: ``to_frame()``.
The Snakemake workflow uses the subpackages directly: ``trialmeta.stats`` (pure statistics),
``trialmeta.inputs`` (reading, validation, configuration), ``trialmeta.tables``,
``trialmeta.pipeline``, ``trialmeta.plots`` and ``trialmeta.report``.
"""

from importlib import import_module

__version__ = "0.1.0"

#: public name -> module that defines it (imported on first access, PEP 562)
_EXPORTS = {
    "meta_analysis": "trialmeta.api",
    "MetaAnalysisResult": "trialmeta.api",
    "ExplorationResult": "trialmeta.api",
    "load_trials": "trialmeta.inputs.ingest",
    "InputError": "trialmeta.inputs.errors",
    "compute_effect_sizes": "trialmeta.tables.effects",
    "pool_analyses": "trialmeta.tables.pooled",
    "leave_one_out_table": "trialmeta.tables.exploration",
    "influence_table": "trialmeta.tables.exploration",
    "cumulative_table": "trialmeta.tables.exploration",
    "subgroups_table": "trialmeta.tables.exploration",
    "metaregression_table": "trialmeta.tables.exploration",
    "small_study_table": "trialmeta.tables.exploration",
    "StudyBatch": "trialmeta.stats.batch",
    "PooledResult": "trialmeta.stats.result",
    "binary_effects": "trialmeta.stats.effect_sizes",
    "continuous_effects": "trialmeta.stats.effect_sizes",
    "generic_effects": "trialmeta.stats.effect_sizes",
    "estimate_tau2": "trialmeta.stats.tau2",
    "random_effects": "trialmeta.stats.pooling",
    "fixed_effect": "trialmeta.stats.pooling",
    "leave_one_out": "trialmeta.stats.sensitivity",
    "cumulative": "trialmeta.stats.sensitivity",
    "influence": "trialmeta.stats.sensitivity",
    "subgroup_analysis": "trialmeta.stats.subgroups",
    "meta_regression": "trialmeta.stats.metaregression",
    "egger_test": "trialmeta.stats.small_study",
    "rank_test": "trialmeta.stats.small_study",
    "trim_and_fill": "trialmeta.stats.small_study",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    """Import a public name's module on first access (keeps ``import trialmeta`` cheap)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trialmeta' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

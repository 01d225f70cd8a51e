"""Result tables: the statistics applied to whole tables (pandas in, pandas out).

The effects table (one row per study x measure), the pooled and studies tables, and the
exploration tables (subgroups, meta-regression, leave-one-out, influence, cumulative,
small-study, sparse data). The workflow jobs and the public API (:func:`trialmeta.meta_analysis`)
both call these.
"""

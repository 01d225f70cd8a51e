"""trialmeta: batched meta-analysis of two-arm trial outcomes, numerically matching R's metafor.

The Snakemake rules and the tests call this package. Statistics work on
:class:`trialmeta.stats.batch.StudyBatch` (K analyses padded to a common width) and
return :class:`trialmeta.stats.result.PooledResult` objects of (K,) arrays.
"""

__version__ = "0.1.0"

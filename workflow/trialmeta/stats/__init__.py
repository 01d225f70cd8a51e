"""Pure statistics: NumPy arrays in, result objects out; no files, no pandas tables, no config.

Everything is batched over analyses (:class:`~trialmeta.stats.batch.StudyBatch`: K analyses padded
to a common width) and numerically matches R's metafor 3.8-1 (see tests/reference).
"""

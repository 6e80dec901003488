"""Plain values every layer shares: the schema model (:mod:`.schema`), key ranges
(:mod:`.ranges`), table jobs and batches (:mod:`.job`).

This package imports nothing of dmt but :mod:`dmt.errors`, so the dialects, the data paths
(:mod:`dmt.paths`) and the pipeline (:mod:`dmt.pipeline`) all build on it.
"""

"""Plain values every layer shares: key ranges, table jobs and batches.

This package imports nothing of dmt but :mod:`dmt.errors` and :mod:`dmt.schema.model`, so the
data paths (:mod:`dmt.paths`) and the pipeline (:mod:`dmt.pipeline`) can both build on it.
"""

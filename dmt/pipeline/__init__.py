"""The transfer pipeline: readers -> bounded read-ahead queue -> DynamicWriterPool.

- :mod:`~dmt.pipeline.pipeline`: the :class:`~dmt.pipeline.pipeline.Pipeline` (tables in
  flight, writers, failure policy);
- :mod:`~dmt.pipeline.chunks`: planning a table's key ranges;
- :mod:`~dmt.pipeline.executor`: the executor seam that runs a table's key-range tasks
  (threads; the Ray executor in :mod:`dmt.cluster` overrides ``Pipeline.run_tasks``);
- :mod:`~dmt.pipeline.reading`: one key range read into batches, by its data path
  (:mod:`dmt.paths`) or the exact row path;
- :mod:`~dmt.pipeline.batchqueue`, :mod:`~dmt.pipeline.writer_pool`: the bounded queue and the
  resizable writer pool;
- :mod:`~dmt.pipeline.knobs`, :mod:`~dmt.pipeline.updates`: the runtime knobs and the update
  slot they are changed through;
- :mod:`~dmt.pipeline.tracker`, :mod:`~dmt.pipeline.checkpoints`: commit tracking and the
  checkpoints reported to the state store; :mod:`~dmt.pipeline.stats`: counters the monitor
  reads; :mod:`~dmt.pipeline.stop`, :mod:`~dmt.pipeline.failures`: stopping, and naming errors.

The pipeline knows :mod:`dmt.paths`, :mod:`dmt.model` and :mod:`dmt.settings`; never the
monitor.
"""

"""Data paths: how the rows of one key range move from the source to the target.

- :mod:`~dmt.paths.base`: the :class:`~dmt.paths.base.DataPath` protocol and the
  :class:`~dmt.paths.base.RowFallback` marker a path yields for a key range it cannot carry;
- :mod:`~dmt.paths.rows`: the exact row path (driver rows, converted in Python), which carries
  every table and every range a faster path hands back;
- :mod:`~dmt.paths.pg_binary`: binary COPY passed through untouched (``copy_binary_passthrough``
  on both sides), reading with :mod:`~dmt.paths.pg_copy`;
- :mod:`~dmt.paths.pg_text`: text COPY out of the source, loaded as tab-separated text
  (``text_copy_out`` -> ``tsv_load``);
- :mod:`~dmt.paths.columnar`: Arrow batches from a columnar reader into ADBC ingest
  (``columnar_reader`` -> ``columnar_writer``, with the dialects' columnar hooks);
- :mod:`~dmt.paths.choose`: the one place that picks a path for a table.

A path knows the dialects (:mod:`dmt.dialects`) and the plain values (:mod:`dmt.model`); it
never imports the pipeline, and no engine name is tested here: what differs between engines is
a capability or a method of the dialect.
"""

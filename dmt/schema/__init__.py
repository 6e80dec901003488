"""Engine-neutral type mapping, expression and default translation, and DDL planning
(the schema model itself is :mod:`dmt.model.schema`)."""

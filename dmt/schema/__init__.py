"""Engine-neutral schema model, type mapping and DDL."""

"""State: one SQLite file under ``migration.state_dir`` holding runs, chunk checkpoints,
post-load progress and runtime adjustments (:mod:`.store`), with key values kept as JSON
(:mod:`.keys`)."""

from dmt.state.keys import decode_key, encode_key, fingerprint
from dmt.state.store import StateStore

__all__ = ["StateStore", "decode_key", "encode_key", "fingerprint"]

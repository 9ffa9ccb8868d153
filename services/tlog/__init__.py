"""The log engine both transparency logs share: batching sequencer, tile storage on SQL, heads.

Personalities (``services.rekor``, ``services.ctlog``) decide what a leaf is, how a head is signed
(``sign_head(size, root, timestamp_ms) -> str``, stored with the head) and what else is written in the
same transaction (``on_sequenced``). See ``engine`` for the write path and ``tiles`` for the storage
layout.
"""

from .engine import Appended, Entry, Log, TreeHead, entry_bundle, identity_of, open_log
from .tiles import WIDTH, tile_path

__all__ = [
    "WIDTH",
    "Appended",
    "Entry",
    "Log",
    "TreeHead",
    "entry_bundle",
    "identity_of",
    "open_log",
    "tile_path",
]

"""The log engine both transparency logs share: batching sequencer, tile storage on SQL, heads.

Personalities (``services.rekor``, ``services.rekor2``, ``services.ctlog``) decide what a leaf is,
how a head is signed (``sign_head(size, root, timestamp_ms) -> str``, stored with the head), what
else is written in the same transaction (``on_sequenced``, given typed ``Sequenced`` records) and
what a duplicate means to their clients (``Appended.duplicate``). See ``engine`` for the write
path, ``tickets`` for what it hands its writers, ``reads`` for heads, entries and proofs,
``tiles`` for the storage layout, ``resources`` for the tlog-tiles resources and ``api`` for
serving them over HTTP (once, for every log). A log can be frozen for good (``Log.freeze``):
read-only, with a final checkpoint.
"""

from .engine import Entry, Log, TreeHead, identity_of, open_log
from .freeze import describe, freeze_parser, freeze_tree, frozen_error, frozen_line
from .reads import Frozen, LogReads, TreeReader, log_names, open_reader
from .resources import entry_bundle
from .tickets import Appended, OnSequenced, Sequenced, Ticket
from .tiles import WIDTH, tile_path

__all__ = [
    "WIDTH",
    "Appended",
    "Entry",
    "Frozen",
    "Log",
    "LogReads",
    "OnSequenced",
    "Sequenced",
    "Ticket",
    "TreeHead",
    "TreeReader",
    "describe",
    "entry_bundle",
    "freeze_parser",
    "freeze_tree",
    "frozen_error",
    "frozen_line",
    "identity_of",
    "log_names",
    "open_log",
    "open_reader",
    "tile_path",
]

"""What the log engine's sequencer and its writers hand each other (``engine``): the ``Ticket`` a
writer gets for a submitted leaf, the ``Appended`` outcome it carries, and the ``Sequenced``
records a personality's same-transaction hook (``OnSequenced``) gets for a batch's new entries."""

from __future__ import annotations

import _thread
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from sigstack.protocol import merkle

from .reads import TreeHead

log = logging.getLogger("sigstack.tlog")


@dataclass(frozen=True)
class Appended:
    """What ``Log.append`` returns: where the leaf is, and the committed head that holds it.
    ``duplicate``: an entry with the same identity was there already (``index`` is its index,
    ``integrated_ms`` its time)."""

    index: int
    leaf_hash: bytes
    integrated_ms: int
    duplicate: bool
    head: TreeHead


@dataclass(frozen=True)
class Sequenced:
    """A new entry of the batch being committed, as the personality's same-transaction hook
    (``on_sequenced``) gets it: its index and the search keys it was appended with."""

    index: int
    keys: tuple[str, ...]


OnSequenced = Callable[[Connection, list[Sequenced]], None]


class Ticket:
    """One leaf handed to the sequencer (``Log.submit``). ``join`` blocks until its batch is
    committed (or failed), ``outcome`` then gives the ``Appended`` or raises the error, ``wait``
    does both. ``notify``, when given to ``submit``, is called once from the sequencer's side as
    soon as the outcome is known, which lets an event loop await the append without a thread
    blocked on it. ``late`` (the log's) is the error for a wait longer than ``timeout``."""

    __slots__ = ("leaf", "leaf_hash", "identity", "extra", "keys", "done", "finished", "result",
                 "error", "notify", "timeout", "late")  # fmt: skip

    def __init__(
        self,
        leaf: bytes,
        identity: bytes | None,
        extra: bytes,
        keys: tuple[str, ...],
        notify: Callable[[], None] | None,
        timeout: float,
        late: Callable[[], Exception],
    ) -> None:
        self.leaf = leaf
        self.leaf_hash = merkle.leaf_hash(leaf)
        self.identity = identity or self.leaf_hash
        self.extra = extra
        self.keys = keys
        # held until the outcome is known: a bare lock, not an Event (a Condition, a lock and a
        # deque each), since most tickets are awaited on an event loop and never joined
        self.done = _thread.allocate_lock()
        self.done.acquire()
        self.finished = False
        self.result: Appended | None = None
        self.error: Exception | None = None
        self.notify = notify
        self.timeout = timeout  # seconds a waiter gives the sequencer
        self.late = late  # () -> the error a waiter raises when the entry was not sequenced in time

    def finish(self, result: Appended | None, error: Exception | None = None) -> None:
        """Give the outcome (the first one given stands) and wake the waiter. Called by the thread
        that owns the entry at the time (the sequencer, or the publisher once the batch is
        committed), never by two at once."""
        if self.finished:
            return
        self.result, self.error = result, error
        self.finished = True
        self.done.release()
        if self.notify is not None:
            try:
                self.notify()
            except Exception:  # noqa: BLE001 (a closed event loop: its request is gone)
                log.debug("could not notify the waiter of a log entry", exc_info=True)

    def join(self) -> None:
        """Block until the sequencer is done with the entry; raise ``late()`` (503) when it was
        not within ``timeout`` seconds."""
        if not self.done.acquire(timeout=self.timeout):
            raise self.late()
        self.done.release()  # for any other thread joining it

    def wait(self) -> Appended:
        """``join``, then the outcome: the ``Appended``, or the append's error raised."""
        self.join()
        return self.outcome()

    def outcome(self) -> Appended:
        """The outcome of a finished append: the ``Appended``, or its error raised."""
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result

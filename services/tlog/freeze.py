"""Freezing a log for good: read-only, with a final checkpoint (a shard replaced by a new log).

``freeze_tree`` takes the tree row's lock, as a batch does: it waits for the batch being
committed, stores ``frozen_ms`` and the final checkpoint the personality signs over the head it
found, and commits. The engine reads the mark under the same lock before each batch, so an entry
acknowledged before the freeze is in the final checkpoint and none is accepted after it, whichever
worker or host it reached. There is no way back: a frozen log's checkpoints never change again.

The final checkpoint carries the extension line ``Log frozen — <UTC time>`` (as rekor-tiles'
freeze-checkpoint writes one); clients ignore extension lines, monitors may read it. Writes are
refused with ``FrozenError`` (HTTP 405), rekor-tiles' message, naming the successor when known.
``freeze_parser`` is the command line both Rekor logs' ``freeze`` share; ``describe``, what it prints.
"""

from __future__ import annotations

import argparse
import datetime
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, func, select

from sigstack.protocol.errors import FrozenError, UnavailableError

from . import store
from .reads import Frozen, LogReads

SignHead = Callable[[int, bytes, int], str]  # (size, root, timestamp_ms) -> signed note

FROZEN_MESSAGE = "This log has been frozen, please switch to the latest log."


def freeze_tree(log: LogReads, final_note: SignHead, successor: str | None = None) -> Frozen:
    """Freeze ``log``: ``final_note(size, root, frozen_ms)`` signs the head found under the row
    lock. Freezing a frozen log changes nothing but a ``successor`` given now (the first freeze's
    head and time stay)."""
    t = store.trees
    with log.engine.connect().execution_options(immediate=True) as conn, conn.begin():
        row = store.lock_head(conn, log.tree_id)
        where = t.c.tree_id == log.tree_id
        if row.frozen_ms is None:
            _check_published(conn, log.tree_id, row.size)
            frozen_ms = max(int(time.time() * 1000), row.timestamp_ms)
            values: dict[str, Any] = {
                "frozen_ms": frozen_ms,
                "note": final_note(row.size, bytes(row.root_hash), frozen_ms),
                "timestamp_ms": frozen_ms,
            }
            if successor:
                values["successor"] = successor
            conn.execute(t.update().where(where).values(**values))
        elif successor and successor != row.successor:
            conn.execute(t.update().where(where).values(successor=successor))
    state = log.frozen()
    assert state is not None
    return state


def _check_published(conn: Connection, tree_id: int, size: int) -> None:
    """Refuse to freeze while entries are stored beyond the published head (a log that waits for
    witnesses' cosignatures publishes heads after their batch): they would be left out of the
    final checkpoint. Their requests are still waiting, so a freeze a moment later takes them."""
    e = store.entries
    last = conn.execute(select(func.max(e.c.idx)).where(e.c.tree_id == tree_id)).scalar()
    if last is not None and last + 1 > size:
        raise UnavailableError(
            f"{last + 1 - size} entries wait for their checkpoint (witness cosignatures); "
            "freeze again in a moment"
        )


def frozen_time(frozen_ms: int) -> str:
    """``2026-01-02T03:04:05Z``: the freeze time in whole seconds (an entry's integrated time in
    seconds is never after it), the form of the final checkpoint and of a trusted root's end."""
    when = datetime.datetime.fromtimestamp(frozen_ms // 1000, datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def frozen_line(frozen_ms: int) -> str:
    """The final checkpoint's extension line."""
    return f"Log frozen — {frozen_time(frozen_ms)}"


def frozen_error(successor: str | None) -> FrozenError:
    """What a write to a frozen log answers."""
    message = FROZEN_MESSAGE + (f" The latest log is {successor}." if successor else "")
    return FrozenError(message, successor)


def describe(kind: str, origin: str, state: Frozen) -> str:
    """What ``sigstack rekor freeze`` / ``rekor2 freeze`` print: ``key: value`` lines, then the
    final checkpoint."""
    return "\n".join(
        [
            f"{kind}: log {origin} is frozen",
            f"frozen_at: {frozen_time(state.frozen_ms)}",
            f"size: {state.head.size}",
            f"root: {state.head.root_hash.hex()}",
            f"successor: {state.successor or '-'}",
            "final checkpoint:",
            state.head.note.rstrip("\n"),
        ]
    )


def freeze_parser(
    service: str, title: str
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``sigstack <service> freeze``'s parser and its ``freeze`` sub-parser, with the options every
    log's freeze takes (data directory, database, key, configuration file, successor); the caller
    adds its log's own (``--hostname``, ``--origin``)."""
    p = argparse.ArgumentParser(
        prog=f"sigstack {service}", description=f"{title} log administration."
    )
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("freeze", help="make the log read-only for good, with a final checkpoint")
    sp.add_argument("--data-dir", required=True, help="the log's data directory (its key)")
    sp.add_argument("--database-url", help="the log's PostgreSQL database (default: the data "
                    f"directory's SQLite file, or $SIGSTACK_{service.upper()}_DATABASE_URL)")  # fmt: skip
    sp.add_argument("--key", dest="key_uri", help="key URI, when not the data directory's file")
    sp.add_argument("--config", help="the server's configuration file (JSON)")
    sp.add_argument("--successor", metavar="URL",
                    help="the base URL of the log that replaces it, named to refused writers")  # fmt: skip
    return p, sp

"""Publishing witnessed checkpoints: the step between a committed batch and its writers' answers,
for a log with a witness policy (docs/witness.md, "Our logs call their witnesses").

Without witnesses the sequencer signs and publishes the head in the batch's own transaction
(``engine``). With them, a checkpoint must be cosigned before anyone sees it, and a witness must
never see a tree the database could still lose, so the two are split:

1. the sequencer commits the batch (entries, tiles) and leaves ``tlog_trees`` (the published
   head, what every read serves) alone; the entries are durable from here on, but not answered;
2. this process's ``Publisher`` thread reads the integrated tree (``MAX(idx) + 1`` and its root
   from the stored tiles, so that entries another worker, or a process that crashed, integrated
   are published too), signs a checkpoint for it, has the witnesses cosign it (``cosign``), and
   publishes it with one conditional statement (``UPDATE ... WHERE size < :new``: a head never
   goes back, whichever worker gets there first); then it answers every writer whose entry the
   published head holds, with that head.

When the cosigning step withholds the checkpoint (fail-closed, no quorum) nothing is published:
the publisher tries again every ``retry`` seconds (doubling to at most ``MAX_RETRY``), writers
wait up to the log's append timeout and then get 503 (``UnavailableError``). Their entries stay
in the log and are published, in order, with the first checkpoint the witnesses cosign; a writer
that sends the same entry again is told it exists once that happened. The request threads never
call a witness: the batch's sequencer thread hands over and goes on with the next batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection, and_, func, select, update

from sigstack.protocol.errors import UnavailableError

from . import store
from .reads import TreeHead
from .witnessing import Cosigning, Proofs

if TYPE_CHECKING:
    from .engine import Log

log = logging.getLogger("sigstack.tlog")

SignHead = Callable[[int, bytes, int], str]  # (size, root, timestamp_ms) -> signed note
Cosign = Callable[[str, Proofs], Cosigning]
Answer = Callable[[TreeHead], None]
MAX_RETRY = 5.0


class Publisher:
    def __init__(self, tlog: Log, sign_head: SignHead, cosign: Cosign, *, retry: float = 0.5):
        self._log = tlog
        self._sign_head = sign_head
        self._cosign = cosign
        self._retry = retry
        self._cv = threading.Condition()
        self._waiting: list[tuple[int, Answer]] = []
        self._poked = False
        self.withheld = False  # the last attempt published nothing (fail-closed, no quorum)

    def start(self, name: str) -> None:
        """Start the thread (once per process: the log's sequencer start does it)."""
        with self._cv:
            self._waiting = []
            self._poked = True  # at once: what an earlier run integrated may await publication
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def withheld_error(self) -> UnavailableError:
        """What a writer gets when its entry's checkpoint was withheld until it gave up."""
        return UnavailableError(
            "the log's witnesses have not cosigned a checkpoint with the entry yet; the entry is "
            "kept and will be published: retry later"
        )

    def committed(self, waiting: list[tuple[int, Answer]]) -> None:
        """A batch is committed: answer each ``(index, answer)`` once a published head holds it."""
        with self._cv:
            self._waiting.extend(waiting)
            self._poked = True
            self._cv.notify()

    def _run(self) -> None:
        delay = self._retry
        while True:
            with self._cv:
                if not self._poked:
                    self._cv.wait(timeout=delay if self.withheld else self._retry * 4)
                self._poked = False
            try:
                done = self.publish()
            except Exception:  # noqa: BLE001 - logged, and tried again; writers time out meanwhile
                log.exception("publishing a checkpoint failed")
                done = False
            if done:
                delay = self._retry
            else:
                time.sleep(delay)  # a withheld checkpoint is not asked for again at once
                delay = min(delay * 2, MAX_RETRY)

    def integrated(self) -> tuple[int, bytes]:
        """The size of the committed tree (published or not) and its root, from the database."""
        with self._log.engine.connect() as conn:
            size = integrated_size(conn, self._log.tree_id)
        return size, self._log.root_at(size)

    def publish(self) -> bool:
        """One attempt: publish a checkpoint of the integrated tree if it is larger than the
        published one, then answer the writers it holds. False when it was withheld."""
        head = self._log.head()
        for _ in range(3):  # again at once when a witness holds a larger tree (another worker's)
            size, root = self.integrated()
            if size <= head.size:
                break
            now_ms = int(time.time() * 1000)
            result = self._cosign(self._sign_head(size, root, now_ms), self._log.consistency_proof)
            if result.note is None and result.behind:
                continue
            self.withheld = result.note is None
            if result.note is None:
                return False
            t = store.trees
            where = and_(t.c.tree_id == self._log.tree_id, t.c.size < size)
            if "frozen_ms" in t.c:  # a frozen log's final checkpoint is never replaced
                where = and_(where, t.c.frozen_ms.is_(None))
            with self._log.engine.begin() as conn:
                conn.execute(
                    update(t)
                    .where(where)
                    .values(size=size, root_hash=root, timestamp_ms=now_ms, note=result.note)
                )
            head = self._log.head()
            break
        else:
            self.withheld = True
            return False
        self._answer(head)
        return True

    def _answer(self, head: TreeHead) -> None:
        with self._cv:
            ready = [a for i, a in self._waiting if i < head.size]
            self._waiting = [(i, a) for i, a in self._waiting if i >= head.size]
        for answer in ready:
            answer(head)


def integrated_size(conn: Connection, tree_id: int) -> int:
    """The number of committed entries of the tree (``MAX(idx) + 1``, an index lookup)."""
    e = store.entries
    top = conn.execute(select(func.max(e.c.idx)).where(e.c.tree_id == tree_id)).scalar()
    return 0 if top is None else int(top) + 1

"""The log engine on real SQLite and PostgreSQL: sequencing, dedup, roots, proofs, tiles."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from sigstack.protocol import merkle
from sigstack.protocol.errors import ConfigError, FrozenError, UnavailableError
from sigstack.services.runtime import db
from sigstack.services.tlog import WIDTH, open_log, reads
from sigstack.services.tlog.tiles import Tile, TileReader, tile_path
from tests.support.dbs import upgraded_database


def _sign_head(size: int, root: bytes, ts: int) -> str:
    return f"head {size} {root.hex()} {ts}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    with upgraded_database(request.param, tmp_path / "log.db") as u:
        yield u


def test_sequential_appends_match_reference_tree(url) -> None:
    engine = db.make_engine(url)
    log = open_log(engine, "t", b"key", _sign_head, batch_wait=0)
    leaves = [f"leaf {i}".encode() for i in range(600)]
    heads = []
    for i, leaf in enumerate(leaves):
        a = log.append(leaf)
        assert a.index == i and not a.duplicate
        heads.append(a.head)
    hashes = [merkle.leaf_hash(x) for x in leaves]
    for h in heads[::37] + heads[-3:]:
        assert h.root_hash == merkle.root_of(hashes[: h.size])
        assert h.note == _sign_head(h.size, h.root_hash, h.timestamp_ms)
    final = log.head()
    assert final.size == 600 and final.root_hash == merkle.root_of(hashes)
    for i in [0, 1, 255, 256, 257, 511, 512, 599]:
        proof = log.inclusion_proof(i, 600)
        merkle.verify_inclusion(i, 600, hashes[i], proof, final.root_hash)
    for old in heads[::53]:
        proof = log.consistency_proof(old.size, 600)
        merkle.verify_consistency(old.size, 600, proof, old.root_hash, final.root_hash)
    # tiles: level 0 holds leaf hashes, level 1 the roots of full level-0 tiles
    assert log.tile(0, 0) == b"".join(hashes[:WIDTH])
    assert log.tile(0, 2)[: 88 * 32] == b"".join(hashes[512:600])
    assert log.tile(1, 0, 2)[:64] == merkle.root_of(hashes[:256]) + merkle.root_of(hashes[256:512])
    assert log.root_at(300) == merkle.root_of(hashes[:300])


def test_memoized_subtrees_give_the_reference_proofs(url, monkeypatch) -> None:
    """Proofs come from a memo of subtree hashes (``reads._memoized``): every entry's proof right
    after its batch, and later ones, equal the reference tree's, also while a small memo keeps
    starting over, and a reader with an empty memo gives the same bytes."""
    monkeypatch.setattr(reads, "SUBTREES_MAX", 16)
    engine = db.make_engine(url)
    log = open_log(engine, "t", b"key", _sign_head, batch_wait=0)
    hashes: list[bytes] = []

    def reference(start: int, end: int) -> bytes:
        return merkle.root_of(hashes[start:end])

    sizes = []
    for batch in range(40):
        leaves = [f"leaf {batch}.{i}".encode() for i in range(batch % 7 + 1)]
        tickets = [log.submit(leaf) for leaf in leaves]
        appended = [t.wait() for t in tickets]
        hashes += [merkle.leaf_hash(x) for x in leaves]
        size = max(a.head.size for a in appended)
        sizes.append(size)
        for a in appended:
            assert log.inclusion_proof(a.index, size) == merkle.inclusion_proof(a.index, size,
                                                                               reference)  # fmt: skip
    assert 0 < len(log._subtrees) <= 16
    reader = reads.TreeReader(engine, log.tree_id)
    for size in sizes[::5] + sizes[-1:]:
        for i in (0, size // 2, size - 1):
            want = merkle.inclusion_proof(i, size, reference)
            assert log.inclusion_proof(i, size) == want == reader.inclusion_proof(i, size)
        want = merkle.consistency_proof(size, sizes[-1], reference) if size < sizes[-1] else []
        assert log.consistency_proof(size, sizes[-1]) == want
        assert reader.consistency_proof(size, sizes[-1]) == want


def test_concurrent_appends_batch_and_dedupe(url) -> None:
    engine = db.make_engine(url)
    log = open_log(engine, "t", b"key", _sign_head, batch_wait=0.005)
    results: dict[int, int] = {}
    lock = threading.Lock()

    def worker(w: int) -> None:
        for j in range(40):
            a = log.append(f"{w}-{j}".encode())
            with lock:
                results[a.index] = w

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(320))
    again = log.append(b"3-7")
    assert again.duplicate and log.entry(again.index).leaf == b"3-7"
    custom = log.append(b"x", identity=b"i" * 32)
    dup = log.append(b"y", identity=b"i" * 32)
    assert dup.duplicate and dup.index == custom.index
    entries = log.entries(0, 321)
    hashes = [e.leaf_hash for e in entries]
    assert log.head().root_hash == merkle.root_of(hashes)
    assert log.index_of(merkle.leaf_hash(b"5-5")) == next(
        e.index for e in entries if e.leaf == b"5-5"
    )


def test_two_log_instances_share_one_database(url) -> None:
    """Two writers (as two processes would) keep one consistent tree through the row lock."""
    a = open_log(db.make_engine(url), "t", b"key", _sign_head)
    b = open_log(db.make_engine(url), "t", b"key", _sign_head)
    for i in range(300):
        (a if i % 3 else b).append(f"e{i}".encode())
    hashes = [merkle.leaf_hash(f"e{i}".encode()) for i in range(300)]
    assert a.head().root_hash == b.head().root_hash == merkle.root_of(hashes)


def test_key_mismatch_refused(url) -> None:
    engine = db.make_engine(url)
    open_log(engine, "t", b"key", _sign_head)
    with pytest.raises(ConfigError):
        open_log(engine, "t", b"other", _sign_head)
    with pytest.raises(ConfigError):
        open_log(engine, "absent", b"key", _sign_head, create=False)


def test_tile_paths() -> None:
    assert tile_path(0, 1234067) == "0/x001/x234/067"
    assert tile_path(2, 5, 17) == "2/005.p/17"
    assert tile_path("entries", 0) == "entries/000"


def test_reader_matches_reference() -> None:
    hashes = [merkle.leaf_hash(bytes([i % 256, i // 256])) for i in range(70000 // 100)]
    tiles = {}
    for i in range(0, len(hashes), WIDTH):
        tiles[(0, i // WIDTH)] = b"".join(hashes[i : i + WIDTH])
    full = [merkle.root_of(hashes[i : i + WIDTH]) for i in range(0, len(hashes) - WIDTH + 1, WIDTH)]
    tiles[(1, 0)] = b"".join(full)
    reader = TileReader(lambda lv, ix, w: Tile(tiles[(lv, ix)]))
    for start, end in [(0, 700), (512, 700), (0, 512), (640, 700)]:
        assert reader.subtree(start, end) == merkle.root_of(hashes[start:end])


def test_tile_levels_grow_incrementally() -> None:
    hashes = [merkle.leaf_hash(bytes([i])) for i in range(256)]
    short = Tile(b"".join(hashes[:100]))
    assert short.node(64, 32) == merkle.root_of(hashes[64:96])
    longer = Tile(b"".join(hashes), base=short)
    for offset, count in [(0, 256), (64, 32), (96, 32), (128, 128), (98, 2)]:
        assert longer.node(offset, count) == merkle.root_of(hashes[offset : offset + count])


def test_a_failing_item_never_fails_the_entries_batched_with_it(url) -> None:
    # The personality's write for one item fails inside the batch transaction (as a NUL in an index
    # key did on PostgreSQL): the other items of the batch are still committed, the bad one alone
    # is refused, and the log holds exactly the good ones.
    def on_sequenced(conn, sequenced) -> None:
        if any("poison" in entry.keys for entry in sequenced):
            raise RuntimeError("the database refused this row")

    engine = db.make_engine(url)
    log = open_log(engine, "t", b"key", _sign_head, batch_wait=0.3, on_sequenced=on_sequenced)
    results: dict[int, object] = {}

    def add(n: int) -> None:
        try:
            results[n] = log.append(f"leaf {n}".encode(), keys=("poison",) if n == 5 else ())
        except Exception as exc:  # noqa: BLE001 (the outcome is checked below)
            results[n] = exc

    threads = [threading.Thread(target=add, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert type(results[5]).__name__ == "UnavailableError"
    good = {n: r for n, r in results.items() if n != 5}
    assert all(not isinstance(r, Exception) for r in good.values()), good
    indexes = sorted(r.index for r in good.values())  # type: ignore[attr-defined]
    assert indexes == list(range(11))
    head = log.head()
    assert head.size == 11
    leaves = [log.entry(i).leaf for i in range(11)]
    assert b"leaf 5" not in leaves
    assert head.root_hash == merkle.root_of([merkle.leaf_hash(x) for x in leaves])


@pytest.mark.parametrize("path", ["٠٠٠", "x٠٠١/234", "000.p/٣", "000.p/²", "00²", "0١2"])
def test_tile_paths_take_ascii_digits_only(path: str) -> None:
    # str.isdigit() says yes to other scripts' digits, and int() reads them: '٠٠٠' served tile 0
    # under a second path, with immutable cache headers.
    from sigstack.protocol.errors import ValidationError
    from sigstack.protocol.tiles import parse_index

    with pytest.raises(ValidationError):
        parse_index(path.split("/"))


def test_submitted_tickets_notify_once_each_with_their_outcome(url) -> None:
    """``Log.submit`` hands a leaf over and returns at once; the sequencer calls each ticket's
    ``notify`` exactly once, after its outcome is set, for a new entry, a duplicate and a failed
    one, and for one a frozen log refuses; a ``notify`` that raises changes nothing for the
    others."""

    def on_sequenced(conn, sequenced) -> None:
        if any("poison" in entry.keys for entry in sequenced):
            raise RuntimeError("the database refused this row")

    engine = db.make_engine(url)
    # a batch gathers for a second: long enough that this busy machine submits all four (and
    # checks that none is done) before the sequencer takes them
    log = open_log(engine, "t", b"key", _sign_head, batch_wait=1.0, on_sequenced=on_sequenced)
    log.append(b"old")
    calls: dict[str, list[object]] = {}
    lock = threading.Lock()

    def notifier(name: str, raises: bool = False):
        def notify() -> None:
            ticket = tickets[name]
            with lock:  # what the waiter would see when woken
                calls.setdefault(name, []).append(ticket.result or ticket.error)
            if raises:
                raise RuntimeError("a waiter's loop is gone")

        return notify

    tickets: dict = {}
    with lock:  # no notify can run before every ticket is known
        for name, leaf, keys, raises in (("new", b"new", (), False), ("dup", b"old", (), False),
                                         ("bad", b"bad", ("poison",), False),
                                         ("raising", b"other", (), True)):  # fmt: skip
            tickets[name] = log.submit(leaf, keys=keys, notify=notifier(name, raises))
        assert not any(t.finished for t in tickets.values())  # submit did not wait
    for ticket in tickets.values():
        ticket.join()
    assert sorted(calls) == ["bad", "dup", "new", "raising"]
    assert all(len(c) == 1 and c[0] is not None for c in calls.values()), calls
    assert tickets["dup"].outcome().duplicate and tickets["dup"].outcome().index == 0
    assert not tickets["new"].outcome().duplicate
    with pytest.raises(UnavailableError):
        tickets["bad"].outcome()
    assert log.append(b"after").index == 3  # the raising notify stopped nothing
    log.freeze(_sign_head)  # the first batch after it finds the mark; later submits are refused
    tickets["late"] = log.submit(b"late", notify=notifier("late"))
    tickets["late"].join()
    assert len(calls["late"]) == 1 and isinstance(calls["late"][0], FrozenError)
    with pytest.raises(FrozenError):
        log.submit(b"later", notify=notifier("later"))
    assert "later" not in calls


def test_a_ticket_not_sequenced_in_time_is_late(tmp_path) -> None:
    """A sequencer held up by another writer's lock: ``join`` gives the 503 after the ticket's
    timeout, and the entry is still logged once the lock is released (the writer told to retry
    finds it as a duplicate)."""
    with upgraded_database("sqlite", tmp_path / "log.db") as url:
        log = open_log(db.make_engine(url), "t", b"key", _sign_head, batch_wait=0)
        log.append(b"first")
        holder = sqlite3.connect(str(tmp_path / "log.db"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            ticket = log.submit(b"held", timeout=0.3)
            with pytest.raises(UnavailableError, match="in time; retry"):
                ticket.join()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert log.append(b"held").duplicate


def test_a_ticket_wakes_every_joiner_and_keeps_its_first_outcome() -> None:
    """``Ticket`` under several threads: every thread blocked in ``join`` wakes once the outcome
    is given, a join after that returns at once, and a second ``finish`` (a batch retried item by
    item after a failure) neither raises nor replaces the outcome the waiters saw."""
    from sigstack.services.tlog import Appended, Ticket, TreeHead

    ticket = Ticket(b"leaf", None, b"", (), None, 5.0, lambda: UnavailableError("late"))
    woke: list[int] = []
    joiners = [threading.Thread(target=lambda n=n: (ticket.join(), woke.append(n)))
               for n in range(8)]  # fmt: skip
    for t in joiners:
        t.start()
    assert not ticket.finished and woke == []
    first = Appended(0, ticket.leaf_hash, 1, False, TreeHead(1, b"r", 1, "n"))
    ticket.finish(first)
    ticket.finish(None, UnavailableError("a later failure"))
    for t in joiners:
        t.join(5)
    assert sorted(woke) == list(range(8))
    ticket.join()
    assert ticket.wait() is first
    slow = Ticket(b"slow", None, b"", (), None, 0.05, lambda: UnavailableError("late"))
    with pytest.raises(UnavailableError, match="late"):
        slow.join()

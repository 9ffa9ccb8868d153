"""Copying one transparency log's tlog-tiles into a staged generation, verifying all of it.

A log is known by its trusted-root entry (``LogKey``). Its checkpoint must be signed by that
entry's key: every signature line whose key ID is the entry's (``checkpointKeyId``, else the
first 4 bytes of ``logId``) must verify over the checkpoint text, and there must be one
(sigstore-python's rule; it holds for Rekor v1's notes, named after the host, and for C2SP
checkpoints such as Rekor v2's, named after the origin). Other lines (witness cosignatures) are
kept as they are, unverified. Its origin must stay the one the mirror recorded.

Relating the new checkpoint to the one the mirror holds (spec witness-monitor sections 6-7):

* the same tree: the new checkpoint (perhaps with new cosignatures) replaces the old;
* a larger tree: the tiles it has that the held tree lacks or holds narrower (``tiles.grown``)
  are fetched, and every one checked before anything is used: each entry hashes to its leaf in
  the level-0 tile, each hash of a higher tile is the root of the full tile below it, a tile
  that replaces a narrower one begins with exactly the hashes the mirror holds, the tiles hash to
  the signed root, and a consistency proof from the held tree to the new one, built from the
  tiles, verifies (RFC 9162 section 2.1.4);
* a smaller tree (a stale cache or a log rolled back): proven a prefix of the held one from the
  mirror's own tiles, then ignored, the mirror keeps what it has (``behind``);
* anything else (same size and another root, a replaced tile that changed, an unprovable
  prefix) is a ``ForkError``: the caller throws the staged generation away.

Writes go into the staged generation only (``layout.write_file``). Partial tiles are kept until
their tile is full, then removed, as ``sigstack serve rekor2 export-tiles`` does: a reader that
read the previous checkpoint still finds the tiles of its size. Fetches run four at a time, in
order.
"""

from __future__ import annotations

import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from sigstack.protocol import merkle, note
from sigstack.protocol.errors import ConfigError, ValidationError, VerificationError
from sigstack.protocol.trust import TrustedRoot

from . import tiles
from .layout import LogRecord, write_file
from .sources import Source
from .tiles import ENTRIES, WIDTH, Tile

MAX_CHECKPOINT = 1 << 16
MAX_TILE = WIDTH * tiles.HASH
MAX_BUNDLE = WIDTH * (2 + tiles.MAX_ENTRY)
FETCHERS = 4
AHEAD = 32


class ForkError(VerificationError):
    """The source's tree is not an extension of the one the mirror holds (nor a prefix of it)."""


@dataclass(frozen=True)
class LogKey:
    log_id: bytes
    hint: bytes
    spki: bytes
    base_url: str

    def verify(self, text: str) -> note.Checkpoint:
        """The checkpoint ``text`` signs, or ``VerificationError``."""
        try:
            checkpoint = note.verify_rekor_checkpoint(text, self.hint, self.spki)
        except ValidationError as exc:
            raise VerificationError(exc.message) from None
        if len(checkpoint.root_hash) != merkle.HASH_SIZE:
            raise VerificationError("the checkpoint's root hash is not 32 bytes")
        return checkpoint


def log_keys(root: TrustedRoot) -> list[LogKey]:
    return [LogKey(t.log_id, (t.checkpoint_key_id or t.log_id)[:4], t.public_key.raw_bytes,
                   t.base_url) for t in root.tlogs]  # fmt: skip


def key_for(record: LogRecord, root: TrustedRoot) -> LogKey:
    """The trusted-root entry of a log the mirror holds (by its log ID)."""
    for key in log_keys(root):
        if key.log_id == record.log_id:
            return key
    raise ConfigError(f"log {record.name}: the trusted root no longer lists its log ID "
                      f"{record.log_id.hex()}; nothing was changed")  # fmt: skip


def identify(text: str, root: TrustedRoot, url: str | None) -> tuple[LogKey, note.Checkpoint]:
    """The trusted-root entry that signed ``text`` (a new log), trying the entry whose
    ``baseUrl`` is ``url`` first."""
    try:
        hints = {s.key_id for s in note.SignedNote.from_text(text).signatures}
    except ValidationError as exc:
        raise VerificationError(f"the checkpoint is malformed: {exc.message}") from None
    candidates = [k for k in log_keys(root) if k.hint in hints]
    candidates.sort(key=lambda k: k.base_url.rstrip("/") != (url or "").rstrip("/"))
    reasons = []
    for key in candidates:
        try:
            return key, key.verify(text)
        except VerificationError as exc:
            reasons.append(exc.message)
    detail = f" ({'; '.join(reasons)})" if reasons else ""
    raise VerificationError(f"the checkpoint is signed by no log of the trusted root{detail}")


def fetch_checkpoint(source: Source) -> str:
    data = source.get("checkpoint", MAX_CHECKPOINT)
    if data is None:
        raise ValidationError(f"{source.where} has no checkpoint (is it a tlog-tiles URL?)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError(f"{source.where}/checkpoint is not UTF-8 text") from None


@dataclass(frozen=True)
class Outcome:
    record: LogRecord
    status: str  # new | grew | same | behind
    added: int = 0
    source_size: int = 0


def update_log(record: LogRecord, key: LogKey, text: str, source: Source, out: Path) -> Outcome:
    """Bring ``out`` (the log's directory in the staged generation, holding what ``record``
    says) to the checkpoint ``text`` read from ``source``; the updated record and what happened.
    Raises ``VerificationError`` (``ForkError`` for an inconsistent source) with ``out`` in any
    state: the staged generation is then discarded."""
    checkpoint = key.verify(text)
    held, new = record.size, checkpoint.size
    if record.origin and checkpoint.origin != record.origin:
        raise VerificationError(f"log {record.name}: {source.where} signs origin "
                                f"{checkpoint.origin!r}, the mirror holds {record.origin!r}")  # fmt: skip
    read = _reader(out)
    if new < held:
        if new > 0:
            proof = merkle.consistency_proof(new, held, tiles.Tiles(held, read).subtree)
            _consistent(record, checkpoint, source, new, held, proof, checkpoint.root_hash,
                        record.root)  # fmt: skip
        return Outcome(record, "behind", source_size=new)
    if new == held:
        if new == 0 and checkpoint.root_hash != merkle.EMPTY_ROOT:
            raise VerificationError(f"log {record.name}: an empty tree with a root that is not "
                                    "the empty tree's")  # fmt: skip
        if record.root and checkpoint.root_hash != record.root:
            raise _fork(record, checkpoint, source, "same size, another root hash")
        write_file(out / "checkpoint", text.encode())
        status = "same" if record.root else "new"
        return Outcome(replace(record, origin=checkpoint.origin, root=checkpoint.root_hash),
                       status, source_size=new)  # fmt: skip
    _copy(record, checkpoint, source, out, read)
    tree = tiles.Tiles(new, read)
    if held:  # the tiles the mirror holds and those fetched: they must prove the extension
        proof = merkle.consistency_proof(held, new, tree.subtree)
        _consistent(record, checkpoint, source, held, new, proof, record.root,
                    checkpoint.root_hash)  # fmt: skip
    if tree.root() != checkpoint.root_hash:
        raise VerificationError(f"log {record.name}: the tiles from {source.where} do not hash "
                                "to the checkpoint's root")  # fmt: skip
    for tile in tiles.grown(held, new):
        if tile.width == WIDTH:  # the partial tiles it replaces (kept until then, as logs do)
            shutil.rmtree(out / "tile" / f"{tile.path}.p", ignore_errors=True)
    write_file(out / "checkpoint", text.encode())
    updated = replace(record, origin=checkpoint.origin, size=new, root=checkpoint.root_hash)
    return Outcome(updated, "grew" if held else "new", new - held, new)


def _consistent(record: LogRecord, checkpoint: note.Checkpoint, source: Source, size1: int,
                size2: int, proof: list[bytes], root1: bytes, root2: bytes) -> None:  # fmt: skip
    """A consistency proof, built from tiles (those the mirror holds, and for a larger tree those
    just fetched, which match the held ones wherever both exist): when it fails, the source's
    signed tree does not extend the mirror's (or its new tiles do not match its own checkpoint;
    from here the two look the same, and either is refused)."""
    try:
        merkle.verify_consistency(size1, size2, proof, root1, root2)
    except VerificationError as exc:
        raise _fork(record, checkpoint, source, f"no consistency proof: {exc.message}") from None


def _fork(record: LogRecord, checkpoint: note.Checkpoint, source: Source, why: str) -> ForkError:
    return ForkError(
        f"log {record.name}: {source.where} is not consistent with the mirror ({why}): the mirror "
        f"holds size {record.size} root {record.root.hex()}, the source signed size "
        f"{checkpoint.size} root {checkpoint.root_hash.hex()}. A fork, or a log restored from an "
        "older copy: keep both checkpoints as evidence. Nothing was changed"
    )


def _reader(out: Path) -> Callable[[Tile], bytes]:
    def read(tile: Tile) -> bytes:
        try:
            return (out / "tile" / tile.path).read_bytes()
        except OSError:
            raise VerificationError(f"the mirror lacks its own tile {out.name}/tile/{tile.path} "
                                    "(a damaged mirror: restore it or make a new one)") from None  # fmt: skip

    return read


def _fetch(source: Source, tile: Tile) -> bytes:
    """``tile`` from ``source``; a partial one the source no longer has is cut from the full
    tile that replaced it (tlog-tiles clients do the same)."""
    limit = MAX_BUNDLE if tile.level == ENTRIES else MAX_TILE
    data = source.get(f"tile/{tile.path}", limit)
    if data is None and tile.width < WIDTH:
        full = source.get(f"tile/{Tile(tile.level, tile.index, WIDTH).path}", limit)
        if full is not None:
            if tile.level == ENTRIES:
                data = tiles.bundle_prefix(full, tile.width)
            elif len(full) == MAX_TILE:
                data = full[: tile.width * tiles.HASH]
            else:
                raise VerificationError(f"{source.where}/tile/{tile.path} (full) is not "
                                        f"{MAX_TILE} bytes")  # fmt: skip
    if data is None:
        raise ValidationError(f"{source.where} lacks tile/{tile.path}")
    return data


def _ahead(source: Source, wanted: Iterable[Tile]) -> Iterator[tuple[Tile, bytes]]:
    """Fetch ``wanted`` on ``FETCHERS`` threads, at most ``AHEAD`` in flight, yielding in order."""
    with ThreadPoolExecutor(max_workers=FETCHERS, thread_name_prefix="mirror-fetch") as pool:
        pending: deque[tuple[Tile, Future[bytes]]] = deque()
        try:
            for tile in wanted:
                pending.append((tile, pool.submit(_fetch, source, tile)))
                if len(pending) >= AHEAD:
                    first, job = pending.popleft()
                    yield first, job.result()
            while pending:
                first, job = pending.popleft()
                yield first, job.result()
        finally:
            for _, job in pending:
                job.cancel()


def _copy(record: LogRecord, checkpoint: note.Checkpoint, source: Source, out: Path,
          read: Callable[[Tile], bytes]) -> None:  # fmt: skip
    """Fetch, check and write every tile the new tree has that the held one lacks; the checks
    that need only the tiles themselves (the module docstring's first three)."""
    held, new = record.size, checkpoint.size
    roots: dict[tuple[int, int], bytes] = {}  # full tiles' roots, for the level above
    leaves: list[bytes] = []
    for tile, data in _ahead(source, tiles.grown(held, new)):
        old = tiles.width(held, tile.level, tile.index)
        if tile.level == ENTRIES:
            for i, entry in enumerate(tiles.entries(data, tile)):
                if merkle.leaf_hash(entry) != leaves[i]:
                    raise VerificationError(
                        f"log {record.name}: entry {tile.index * WIDTH + i} from {source.where} "
                        "does not hash to its leaf in the level-0 tile"
                    )
            write_file(out / "tile" / tile.path, data)
            continue
        assert isinstance(tile.level, int)
        got = tiles.hashes(data, tile)
        if old and got[:old] != tiles.hashes(read(Tile(tile.level, tile.index, old)),
                                             Tile(tile.level, tile.index, old)):  # fmt: skip
            raise _fork(record, checkpoint, source,
                        f"tile {tile.path} does not begin with the hashes the mirror holds")  # fmt: skip
        if tile.level == 0:
            leaves = got
        else:
            for i in range(old, tile.width):
                below = roots.pop((tile.level - 1, tile.index * WIDTH + i), None)
                if below is None or got[i] != below:
                    raise VerificationError(
                        f"log {record.name}: hash {i} of tile {tile.path} from {source.where} "
                        "is not the root of the tile below it"
                    )
        if tile.width == WIDTH:
            roots[(tile.level, tile.index)] = tiles.tile_root(got)
        write_file(out / "tile" / tile.path, data)

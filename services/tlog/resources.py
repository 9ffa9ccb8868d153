"""The C2SP tlog-tiles resources of a log (https://c2sp.org/tlog-tiles): their paths, which exist
for a tree size, their bytes, and which change from one tree size to a larger one.

Resources are the hash tiles ``tile/<L>/<N>[.p/<W>]`` (level L holds ``size >> 8L`` hashes) and
the entry bundles ``tile/entries/<N>[.p/<W>]`` (``size`` entries, each a big-endian uint16
length then the entry). A partial tile of width W is a prefix of the full tile, so every width up
to what a size holds is served: a client holding an older checkpoint can fetch the tiles it names.

Used by the log personalities' read API and by the static export (``services.rekor2.export``);
the checkpoint (``<prefix>/checkpoint``) is the personality's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sigstack.protocol import tiles
from sigstack.protocol.errors import NotFoundError, ValidationError
from sigstack.protocol.tiles import HASH, WIDTH, tile_path

from .reads import Entry, LogReads

ENTRIES = -1  # the level given to entry bundles


def entry_bundle(entries: Sequence[Entry]) -> bytes:
    """C2SP tlog-tiles entry bundle: each entry as a big-endian uint16 length then the bytes."""
    return b"".join(len(e.leaf).to_bytes(2, "big") + e.leaf for e in entries)


@dataclass(frozen=True)
class Resource:
    """A hash tile (``level`` >= 0) or an entry bundle (``level`` == ENTRIES) of ``width`` items
    (1 to 256; 256 is a full tile)."""

    level: int
    index: int
    width: int

    @property
    def path(self) -> str:
        """The path under the log's prefix: ``tile/0/x001/234``, ``tile/entries/000.p/5``."""
        level = tiles.ENTRIES if self.level == ENTRIES else self.level
        return f"tile/{tile_path(level, self.index, self.width)}"

    @property
    def full(self) -> bool:
        return self.width == WIDTH


def parse(rest: str) -> Resource:
    """The resource at ``tile/<rest>``; NotFoundError for a path that names none."""
    level_text, _, index_text = rest.partition("/")
    try:
        level = tiles.parse_level(level_text)
        index, width = tiles.parse_index(index_text.split("/"))
    except ValidationError as exc:
        raise NotFoundError("no such tile") from exc
    return Resource(ENTRIES if level == tiles.ENTRIES else int(level), index, width or WIDTH)


def _count(size: int, level: int) -> int:
    """Hashes at tile level ``level`` (entries at level 0) of a tree of ``size`` leaves."""
    return tiles.count(size, max(level, 0))


def exists(resource: Resource, size: int) -> bool:
    return resource.index * WIDTH + resource.width <= _count(size, resource.level)


def read(log: LogReads, size: int, resource: Resource) -> bytes:
    """The resource's bytes in a tree of ``size`` leaves; NotFoundError if that tree lacks it."""
    if not exists(resource, size):
        raise NotFoundError("no such tile")
    start = resource.index * WIDTH
    if resource.level == ENTRIES:
        entries = log.entries(start, start + resource.width)
        if len(entries) != resource.width:  # the head was read first: these are committed
            raise NotFoundError("no such tile")
        return entry_bundle(entries)
    return log.tile(resource.level, resource.index, resource.width)[: resource.width * HASH]


def grown(old_size: int, new_size: int) -> Iterator[Resource]:
    """The resources a tree of ``new_size`` leaves has and one of ``old_size`` lacks: per level
    (entry bundles first), every tile whose width grew, at its new width."""
    grew = [Resource(int(t.level), t.index, t.width) for t in tiles.grown(old_size, new_size)]
    yield from (Resource(ENTRIES, r.index, r.width) for r in grew if r.level == 0)
    yield from grew


__all__ = ["ENTRIES", "Resource", "exists", "grown", "parse", "read"]

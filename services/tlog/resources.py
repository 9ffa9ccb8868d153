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

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sigstack.protocol.errors import NotFoundError

from .engine import entry_bundle
from .reads import LogReads
from .tiles import HASH, HEIGHT, WIDTH, parse_tile_index, tile_path

ENTRIES = -1  # the level given to entry bundles
MAX_LEVEL = 63
_LEVEL = re.compile(r"0|[1-9][0-9]?")


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
        if self.level == ENTRIES:
            return f"tile/entries/{tile_path(-1, self.index, self.width)}"
        return f"tile/{tile_path(self.level, self.index, self.width)}"

    @property
    def full(self) -> bool:
        return self.width == WIDTH


def parse(rest: str) -> Resource:
    """The resource at ``tile/<rest>``; NotFoundError for a path that names none."""
    parts = rest.split("/")
    try:
        if parts[0] == "entries":
            level = ENTRIES
        elif _LEVEL.fullmatch(parts[0]) and int(parts[0]) <= MAX_LEVEL:
            level = int(parts[0])
        else:
            raise ValueError("bad level")
        index, width = parse_tile_index(parts[1:])
    except (ValueError, IndexError) as exc:
        raise NotFoundError("no such tile") from exc
    return Resource(level, index, width or WIDTH)


def _count(size: int, level: int) -> int:
    """Hashes at tile level ``level`` (entries at level 0) of a tree of ``size`` leaves."""
    return size >> (HEIGHT * max(level, 0))


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
    for level in (ENTRIES, *range(MAX_LEVEL + 1)):
        old, new = _count(old_size, level), _count(new_size, level)
        if new == 0:
            return
        for index in range(old // WIDTH, (new - 1) // WIDTH + 1):
            width = min(WIDTH, new - index * WIDTH)
            if width > old - index * WIDTH:
                yield Resource(level, index, width)


__all__ = ["ENTRIES", "Resource", "exists", "grown", "parse", "read"]

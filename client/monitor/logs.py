"""Reading the three kinds of log over HTTP: the adapters around the monitor's pure core.

* ``RekorApi``: Rekor v1's API (spec/rekor.md section 1): ``GET /api/v1/log`` (the signed note),
  ``GET /api/v1/log/proof`` (consistency), entries by ``POST /api/v1/log/entries/retrieve``
  (ten log indexes a request) or, with ``entries: tiles``, the log's tlog-tiles entry bundles.
  A sharded log's indexes start after its inactive shards' sizes (``index_offset``). With
  ``head: checkpoint`` it is read as tlog-tiles alone, as ``TilesLog`` (a mirror of the log has
  no v1 API): the signed note from ``/checkpoint``, proofs from tiles; ``index_offset`` stays 0
  (a checkpoint does not say what inactive shards hold: indexes are the tree's).
* ``TilesLog``: any C2SP tlog-tiles log, Rekor v2 included (section 6): ``/checkpoint``,
  consistency proofs built here from ``/tile/<L>/<N>``, entries from ``/tile/entries/<N>``.
* ``CtLog``: RFC 6962 section 4: ``get-sth``, ``get-sth-consistency``, ``get-entries`` (the log
  may answer fewer entries than asked; the reader goes on from where it stopped).

Every reader yields the leaf data (what the log hashes) of ``[start, end)`` in order, in chunks;
the monitor hashes and matches them. Fetches run ahead of the matching on two threads. A partial
tile or bundle the server no longer has is fetched full (tiles only grow). ``frontier`` gives the
compact range of ``[0, size)`` checked against a verified head: from tiles, or from a consistency
proof for the API logs (``tree.frontier_from_consistency``), after which the reader may have to
start a little earlier than asked (``Frontier.size`` says where).

HTTP failures: ``UnavailableError`` (network, 5xx, 429: try again next run), ``NotFoundError``
(404), ``ValidationError`` (another refusal, or an answer that does not parse).
"""

from __future__ import annotations

import abc
import gzip
import hashlib
import http.client
import json
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from sigstack.client.http import USER_AGENT
from sigstack.protocol import merkle
from sigstack.protocol.errors import NotFoundError, UnavailableError, ValidationError
from sigstack.protocol.protojson import strict_b64decode

from .config import LogSpec
from .entries import Subjects, from_ct_leaf, from_rekor_body
from .heads import Head, sth_text
from .tiles import WIDTH, TileReader, entry_bundle, tile_path, tile_width
from .tree import Frontier, frontier_from_consistency, is_power_of_two

MAX_BODY = 64 << 20
TIMEOUT = 30.0
AHEAD = 4
_API_BATCH = 10  # Rekor's retrieve takes at most ten queries


class Http:
    """GET and POST of one base URL with urllib (standard library only, like ``client.http``)."""

    def __init__(self, base: str, timeout: float = TIMEOUT) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout

    def request(self, path: str, body: bytes | None = None, accept: str = "*/*") -> bytes:
        url = path if "://" in path else f"{self.base}/{path.lstrip('/')}"
        headers = {"User-Agent": USER_AGENT, "Accept": accept, "Accept-Encoding": "gzip"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 - http(s) only
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                data: bytes = resp.read(MAX_BODY + 1)
                encoding = resp.headers.get("Content-Encoding", "")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise NotFoundError(f"{url} is not there (HTTP 404)") from None
            if exc.code >= 500 or exc.code == 429:
                raise UnavailableError(f"{url} answered HTTP {exc.code}") from None
            raise ValidationError(f"{url} refused the request (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise UnavailableError(f"cannot reach {url}: {reason}") from None
        if len(data) > MAX_BODY:
            raise ValidationError(f"{url} answered more than {MAX_BODY} bytes")
        if encoding.strip().lower() == "gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                raise ValidationError(f"{url} answered gzip that does not decompress") from None
        return data

    def json(self, path: str, payload: object = None) -> object:
        body = None if payload is None else json.dumps(payload).encode()
        raw = self.request(path, body, accept="application/json")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ValidationError(
                f"{self.base}/{path} answered something that is not JSON"
            ) from None


def _b64(value: object, what: str) -> bytes:
    return strict_b64decode(value, what)


def _ahead(jobs: Iterator[Callable[[], list[bytes]]], depth: int = AHEAD) -> Iterator[list[bytes]]:
    """Run ``jobs`` on two threads, at most ``depth`` ahead, yielding results in order."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="monitor-fetch") as pool:
        pending: deque[Future[list[bytes]]] = deque()
        try:
            for job in jobs:
                pending.append(pool.submit(job))
                if len(pending) >= depth:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


class LogReader(abc.ABC):
    """What the monitor needs of a log; one subclass per kind."""

    subjects: Callable[[bytes], Subjects] = staticmethod(from_rekor_body)
    index_offset = 0  # what to add to a tree index for the index the log's users see

    def __init__(self, spec: LogSpec, timeout: float = TIMEOUT) -> None:
        self.spec = spec
        self.http = Http(spec.url, timeout)

    @abc.abstractmethod
    def latest(self) -> str:
        """The log's newest signed head, as text (a signed note or an STH in note form)."""

    @abc.abstractmethod
    def proof(self, size1: int, size2: int, head2: Head) -> list[bytes]:
        """A consistency proof from ``size1`` to ``size2`` (``head2`` the verified head there)."""

    @abc.abstractmethod
    def chunks(self, start: int, end: int, head: Head) -> Iterator[list[bytes]]:
        """The leaf data of ``[start, end)`` in order, in chunks."""

    def frontier(self, size: int, head: Head) -> Frontier:
        """A frontier at ``size`` or a little below, consistent with ``head`` (API logs)."""
        while size > 0 and (is_power_of_two(size) or size >= head.size):
            size -= 1
        if size == 0:
            return Frontier()
        return frontier_from_consistency(size, head.size, self.proof(size, head.size, head),
                                         head.root)  # fmt: skip

    def witness(self, prefix: str, origin: str) -> str | None:
        """The checkpoint a C2SP witness holds for ``origin`` (tlog-witness "Monitor
        Retrieval"), None if it has none."""
        path = f"{prefix.rstrip('/')}/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint"
        try:
            return self.http.request(path, accept="text/plain").decode("utf-8")
        except NotFoundError:
            return None
        except UnicodeDecodeError:
            raise ValidationError(f"{path} is not UTF-8 text") from None

    # --- tlog-tiles, shared by Rekor v1 (entries: tiles) and TilesLog ----------------------------

    def _tile(self, level: int | str, index: int, width: int) -> bytes:
        try:
            return self.http.request(f"tile/{tile_path(level, index, width)}")
        except NotFoundError:
            if width == WIDTH:
                raise
            return self.http.request(f"tile/{tile_path(level, index)}")  # filled up since

    def _bundle_chunks(self, start: int, end: int) -> Iterator[list[bytes]]:
        def job(n: int, skip: int, size: int) -> Callable[[], list[bytes]]:
            def run() -> list[bytes]:
                width = tile_width(size, 0, n)
                return entry_bundle(self._tile("entries", n, width), width)[skip:]

            return run

        jobs = (job(n, max(0, start - n * WIDTH), end)
                for n in range(start // WIDTH, (end + WIDTH - 1) // WIDTH))  # fmt: skip
        yield from _ahead(jobs)

    def _tile_reader(self, size: int) -> TileReader:
        return TileReader(size, lambda level, index, width: self._tile(level, index, width))

    def _checkpoint(self) -> str:
        try:
            return self.http.request("checkpoint", accept="text/plain").decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{self.spec.url}/checkpoint is not UTF-8 text") from None

    def _tiles_proof(self, size1: int, size2: int) -> list[bytes]:
        return merkle.consistency_proof(size1, size2, self._tile_reader(size2).subtree)


class RekorApi(LogReader):
    def latest(self) -> str:
        if self.spec.head == "checkpoint":
            return self._checkpoint()
        info = self.http.json("api/v1/log")
        note = info.get("signedTreeHead") if isinstance(info, dict) else None
        if not isinstance(info, dict) or not isinstance(note, str):
            raise ValidationError(f"{self.spec.url}/api/v1/log has no signedTreeHead")
        # a sharded log numbers its entries after the inactive shards' (spec/rekor.md section 4)
        shards = info.get("inactiveShards")
        sizes = [s.get("treeSize") for s in shards if isinstance(s, dict)] if isinstance(
            shards, list) else []  # fmt: skip
        self.index_offset = sum(n for n in sizes if isinstance(n, int) and not isinstance(n, bool)
                                and n >= 0)  # fmt: skip
        return note

    def proof(self, size1: int, size2: int, head2: Head) -> list[bytes]:
        if self.spec.head == "checkpoint":
            return self._tiles_proof(size1, size2)
        answer = self.http.json(f"api/v1/log/proof?firstSize={size1}&lastSize={size2}")
        hashes = answer.get("hashes") if isinstance(answer, dict) else None
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise ValidationError("the consistency proof answer has no list of hashes")
        try:
            return [bytes.fromhex(h) for h in hashes]
        except ValueError:
            raise ValidationError("the consistency proof holds a hash that is not hex") from None

    def frontier(self, size: int, head: Head) -> Frontier:
        if self.spec.entries == "tiles":
            return _tiles_frontier(self._tile_reader(head.size), min(size, head.size))
        return super().frontier(size, head)

    def chunks(self, start: int, end: int, head: Head) -> Iterator[list[bytes]]:
        if self.spec.entries == "tiles":
            yield from self._bundle_chunks(start, end)
            return
        step = self.spec.batch

        def job(first: int) -> Callable[[], list[bytes]]:
            return lambda: self._retrieve(first, min(first + step, end))

        yield from _ahead(job(i) for i in range(start, end, step))

    def _retrieve(self, start: int, end: int) -> list[bytes]:
        bodies: dict[int, bytes] = {}
        offset = self.index_offset
        for first in range(start + offset, end + offset, _API_BATCH):
            wanted = list(range(first, min(first + _API_BATCH, end + offset)))
            answer = self.http.json("api/v1/log/entries/retrieve", {"logIndexes": wanted})
            if not isinstance(answer, list):
                raise ValidationError("the retrieve answer is not a list")
            for item in answer:
                if not isinstance(item, dict):
                    raise ValidationError("the retrieve answer holds something else than entries")
                for entry in item.values():
                    index = entry.get("logIndex") if isinstance(entry, dict) else None
                    if isinstance(index, int) and index in wanted:
                        bodies[index] = _b64(entry.get("body"), f"the body of entry {index}")
        missing = [i for i in range(start + offset, end + offset) if i not in bodies]
        if missing:
            raise ValidationError(f"the log did not return entry {missing[0]}")
        return [bodies[i] for i in range(start + offset, end + offset)]


class TilesLog(LogReader):
    def latest(self) -> str:
        return self._checkpoint()

    def proof(self, size1: int, size2: int, head2: Head) -> list[bytes]:
        return self._tiles_proof(size1, size2)

    def frontier(self, size: int, head: Head) -> Frontier:
        return _tiles_frontier(self._tile_reader(head.size), min(size, head.size))

    def chunks(self, start: int, end: int, head: Head) -> Iterator[list[bytes]]:
        yield from self._bundle_chunks(start, end)


def _tiles_frontier(reader: TileReader, size: int) -> Frontier:
    return Frontier(size, reader.frontier_hashes(size))


class CtLog(LogReader):
    subjects = staticmethod(from_ct_leaf)

    def latest(self) -> str:
        sth = self.http.json("ct/v1/get-sth")
        if not isinstance(sth, dict):
            raise ValidationError("get-sth did not answer a JSON object")
        try:
            return sth_text(sth)
        except KeyError:
            raise ValidationError("get-sth answered an incomplete STH") from None

    def proof(self, size1: int, size2: int, head2: Head) -> list[bytes]:
        answer = self.http.json(f"ct/v1/get-sth-consistency?first={size1}&second={size2}")
        hashes = answer.get("consistency") if isinstance(answer, dict) else None
        if not isinstance(hashes, list):
            raise ValidationError("get-sth-consistency answered no consistency list")
        return [_b64(h, "a consistency proof hash") for h in hashes]

    def chunks(self, start: int, end: int, head: Head) -> Iterator[list[bytes]]:
        step = self.spec.batch

        def job(first: int) -> Callable[[], list[bytes]]:
            return lambda: self._entries(first, min(first + step, end))

        yield from _ahead(job(i) for i in range(start, end, step))

    def _entries(self, start: int, end: int) -> list[bytes]:
        out: list[bytes] = []
        while start + len(out) < end:
            first = start + len(out)
            answer = self.http.json(f"ct/v1/get-entries?start={first}&end={end - 1}")
            entries = answer.get("entries") if isinstance(answer, dict) else None
            if not isinstance(entries, list) or not entries:
                raise ValidationError(f"get-entries answered no entries from {first}")
            for item in entries[: end - first]:
                leaf = item.get("leaf_input") if isinstance(item, dict) else None
                out.append(_b64(leaf, f"the leaf_input of entry {start + len(out)}"))
        return out


def reader_for(spec: LogSpec, timeout: float = TIMEOUT) -> LogReader:
    kinds: dict[str, Callable[[LogSpec, float], LogReader]] = {
        "rekor": RekorApi,
        "tiles": TilesLog,
        "ct": CtLog,
    }
    return kinds[spec.kind](spec, timeout)

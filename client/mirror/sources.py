"""Where a mirror update reads from: a URL (``HttpSource``, for ``sigstack mirror pull``) or a
directory (``DirSource``: an unpacked export bundle, for ``sigstack mirror import``, or a mirror
of its own for ``sigstack mirror verify``). Both answer ``get(path, limit)`` with the bytes, or
None when the resource is not there (HTTP 404/410, no such file); nothing read from either is
trusted before the caller verifies it.

``TufFetcher`` lets python-tuf's updater read through a ``Source``, so the TUF part of a mirror
is fetched and verified exactly as a TUF client does it, from the network or from a bundle.

HTTP failures: ``UnavailableError`` (network, 5xx, 429), ``ValidationError`` (another refusal,
a body over the limit or gzip that does not decompress). Standard library only.
"""

from __future__ import annotations

import gzip
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from sigstack.protocol.errors import UnavailableError, ValidationError

TIMEOUT = 30.0
USER_AGENT = "sigstack-mirror/0.1"
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,199}")


def check_path(path: str) -> str:
    """``path`` if it is a relative path of plain segments (letters, digits, ``._-``, no segment
    starting with a dot), else ``ValidationError``: nothing outside a mirror is ever named."""
    parts = path.split("/")
    if not path or len(parts) > 16 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise ValidationError(f"{path[:80]!r} is not a path a mirror holds")
    return path


class Source(Protocol):
    where: str

    def get(self, path: str, limit: int) -> bytes | None: ...


class HttpSource:
    """``GET <base>/<path>`` with urllib; redirects are followed, gzip bodies decoded."""

    def __init__(self, base: str, timeout: float = TIMEOUT) -> None:
        if not re.match(r"https?://[^/\s]+", base):
            raise ValidationError(f"{base} is not an http(s) URL")
        self.base = base.rstrip("/")
        self.where = self.base
        self.timeout = timeout

    def get(self, path: str, limit: int) -> bytes | None:
        url = f"{self.base}/{check_path(path)}"
        req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                data: bytes = resp.read(limit + 1)
                encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                return None
            if exc.code >= 500 or exc.code == 429:
                raise UnavailableError(f"{url} answered HTTP {exc.code}") from None
            raise ValidationError(f"{url} refused the request (HTTP {exc.code})") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise UnavailableError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None
        if encoding == "gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                raise ValidationError(f"{url} answered gzip that does not decompress") from None
        if len(data) > limit:
            raise ValidationError(f"{url} answered more than {limit} bytes")
        return data


class DirSource:
    """Files under ``root``; a path that leaves it through a link is refused."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.where = str(root)

    def get(self, path: str, limit: int) -> bytes | None:
        target = (self.root / check_path(path)).resolve()
        if self.root not in target.parents:
            raise ValidationError(f"{path} leaves {self.where}")
        try:
            with open(target, "rb") as fh:
                data = fh.read(limit + 1)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise ValidationError(f"cannot read {target}: {exc.strerror}") from None
        if len(data) > limit:
            raise ValidationError(f"{target} holds more than {limit} bytes")
        return data


def tuf_fetcher(source: Source, base: str, got: dict[str, bytes]) -> Any:
    """A python-tuf fetcher answering URLs under ``base`` from ``source`` (a 404 is python-tuf's
    "no newer root"); what it answered is kept in ``got`` by path (python-tuf keeps only the
    newest root)."""
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient.fetcher import FetcherInterface

    class TufFetcher(FetcherInterface):
        def _fetch(self, url: str) -> Iterator[bytes]:
            if not url.startswith(base):
                raise DownloadHTTPError(f"{url} is outside {base}", 404)
            data = source.get(url[len(base) :], MAX_TUF_FILE)
            if data is None:
                raise DownloadHTTPError(f"{url} is not there", 404)
            got[url[len(base) :]] = data
            return iter([data])

    return TufFetcher()


MAX_TUF_FILE = 32 << 20

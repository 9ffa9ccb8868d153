"""Streaming file hashing with an optional progress bar on a terminal.

Files are read in 1 MiB chunks into one reusable buffer (``readinto``) so memory stays flat and
hashing runs at the speed of OpenSSL's SHA-256; the bar is drawn on stderr only when it is a
terminal and the file is large enough for it to matter.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys

from sigstack.protocol.errors import ValidationError

CHUNK = 1 << 20
_BAR_THRESHOLD = 64 << 20


def hash_file(path: str, algorithm: str = "sha256", progress: bool | None = None) -> bytes:
    """Digest of the file at ``path``; ``progress=None`` means "if stderr is a terminal"."""
    try:
        fh = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        show = sys.stderr.isatty() if progress is None else progress
        return hash_stream(fh, algorithm, size if show and size >= _BAR_THRESHOLD else 0)


def hash_stream(fh: io.BufferedIOBase, algorithm: str = "sha256", total: int = 0) -> bytes:
    h = hashlib.new(algorithm)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    done = 0
    last = -1
    while True:
        n = fh.readinto(view)
        if not n:
            break
        h.update(view[:n])
        if total:
            done += n
            pct = done * 100 // total
            if pct != last:
                last = pct
                filled = pct * 30 // 100
                sys.stderr.write(f"\rHashing [{'#' * filled}{'.' * (30 - filled)}] {pct:3d}%")
                sys.stderr.flush()
    if total:
        sys.stderr.write("\n")
    return h.digest()

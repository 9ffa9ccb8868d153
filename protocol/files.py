"""Reading a file a user named (a trusted root, a bundle, a key, a predicate): its bytes, or a
``ValidationError`` that names the file and says why it could not be read, never an ``OSError``
(design rule 2). What the bytes must hold is the caller's to check.
"""

from __future__ import annotations

from pathlib import Path

from .errors import ValidationError


def read_file(path: str | Path, what: str = "") -> bytes:
    """The bytes of ``path``; ``what`` (``"trusted root"``) names the file in the error."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        named = f"{what} {path}" if what else str(path)
        raise ValidationError(f"cannot read {named}: {exc.strerror}") from None

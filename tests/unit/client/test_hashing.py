"""Streaming hashing: same digest as hashlib over sizes around the chunk boundary, a progress bar
only when asked, readable errors for unreadable paths."""

from __future__ import annotations

import hashlib
import io

import pytest

from sigstack.client.hashing import CHUNK, hash_file, hash_stream
from sigstack.protocol.errors import ValidationError


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_digest_matches_hashlib(size: int, tmp_path) -> None:
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hash_file(str(path), progress=False) == hashlib.sha256(data).digest()
    assert hash_file(str(path), "sha384", progress=False) == hashlib.sha384(data).digest()


def test_progress_bar(capsys) -> None:
    data = b"x" * (2 * CHUNK + 5)
    assert hash_stream(io.BytesIO(data), total=len(data)) == hashlib.sha256(data).digest()
    err = capsys.readouterr().err
    assert "100%" in err and err.endswith("\n")
    hash_stream(io.BytesIO(data))
    assert capsys.readouterr().err == ""


def test_unreadable(tmp_path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        hash_file(str(tmp_path / "missing"))
    with pytest.raises(ValidationError, match="cannot read"):
        hash_file(str(tmp_path))

"""``sigstack initialize`` says what went wrong (issue 15, item 5): against a mirror it cannot
reach or that serves no TUF repository, the URL it tried and the cause; given a file that is not a
TUF root (a trusted_root.json, a trust config, anything else), what the file is and what --root
expects, before the cache of that mirror is wiped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.client.cli import main
from tests.support.servers import free_port, serve_directory
from tests.support.testdata import TESTDATA

from .kit import Kit

TUF_ROOT = TESTDATA / "pyassets" / "trust" / "staging" / "root.json"  # a real TUF root


@pytest.fixture
def not_a_repository(tmp_path: Path) -> Iterator[str]:
    """An HTTP server that answers 404 to everything a TUF client asks for."""
    (tmp_path / "www").mkdir()
    with serve_directory(tmp_path / "www") as server:
        yield f"{server.url}/tuf"


def _initialize(mirror: str, root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["initialize", "--mirror", mirror, "--root", str(root)]) == 1
    return capsys.readouterr().err


def test_unreachable_mirror_names_the_url_and_the_cause(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TUF_ROOT", str(tmp_path / "cache"))
    mirror = f"http://127.0.0.1:{free_port()}"
    err = _initialize(mirror, TUF_ROOT, capsys)
    assert f"GET {mirror}/" in err and ".root.json" in err
    assert "Connection refused" in err
    assert "failed: \n" not in err and not err.rstrip().endswith("failed:")


def test_a_server_without_a_repository_names_the_url_and_status(
    not_a_repository: str, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("TUF_ROOT", str(tmp_path / "cache"))
    err = _initialize(not_a_repository, TUF_ROOT, capsys)
    assert f"GET {not_a_repository}/timestamp.json" in err and "HTTP 404" in err
    assert "mirror URL" in err


def test_a_trusted_root_instead_of_a_tuf_root(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TUF_ROOT", str(tmp_path / "cache"))
    trusted_root = tmp_path / "trusted_root.json"
    trusted_root.write_text(Kit().trusted_root().to_json())
    err = _initialize(f"http://127.0.0.1:{free_port()}", trusted_root, capsys)
    assert "Failed to deserialize JSON" not in err
    assert f"{trusted_root} is a Sigstore trusted root" in err
    assert "TUF repository's root.json" in err
    assert f"--trusted-root {trusted_root}" in err
    assert "GET" not in err  # refused before any request


@pytest.mark.parametrize(
    ("content", "said"),
    [(b"not json at all", "is not JSON"), (b'{"signed": {"_type": "timestamp"}}', "not TUF root")],
)
def test_other_files_say_what_root_expects(content, said, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TUF_ROOT", str(tmp_path / "cache"))
    root = tmp_path / "root.json"
    root.write_bytes(content)
    err = _initialize(f"http://127.0.0.1:{free_port()}", root, capsys)
    assert said in err and "TUF repository's root.json" in err


def test_a_wrong_root_file_leaves_the_cache_alone(tmp_path, monkeypatch, capsys) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("TUF_ROOT", str(cache))
    mirror = f"http://127.0.0.1:{free_port()}"
    _initialize(mirror, TUF_ROOT, capsys)  # fails, but leaves the mirror's directory
    (mirror_dir,) = [p for p in cache.iterdir() if p.is_dir()]
    marker = mirror_dir / "metadata" / "kept"
    marker.write_text("a cache that a wrong --root must not wipe")
    wrong = tmp_path / "trusted_root.json"
    wrong.write_text(Kit().trusted_root().to_json())
    _initialize(mirror, wrong, capsys)
    assert marker.exists()

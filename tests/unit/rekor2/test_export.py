"""``sigstack serve rekor2 export-tiles``: the static files are the read API's answers, written
incrementally and the checkpoint last; an export that disagrees with the database is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sigstack.protocol import note
from sigstack.protocol.errors import ConfigError
from sigstack.services.rekor2 import export, serve
from sigstack.services.rekor2.app import create_app
from sigstack.services.tlog import resources
from tests.unit.rekor2.test_tiles import fill


@pytest.fixture
def served(tmp_path: Path):
    config = serve.configure(str(tmp_path / "data"), default_origin="export.test",
                             overrides={"batch_wait_ms": 0})  # fmt: skip
    app = create_app(config)
    yield app
    app.extensions["rekor2"].close()


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _run(data: Path, out: Path) -> None:
    assert export.main(["--data-dir", str(data), "--to", str(out)]) == 0


def test_export_is_what_the_api_serves_and_grows_incrementally(tmp_path, served) -> None:
    client, log = served.test_client(), served.extensions["rekor2"]
    data, out = tmp_path / "data", tmp_path / "public"
    _run(data, out)
    assert not out.exists()  # an empty log: nothing to publish yet
    fill(log, 250)
    old_umask = os.umask(0o077)  # as `sigstack serve` runs it
    try:
        _run(data, out)
    finally:
        os.umask(old_umask)
    files = _files(out)
    assert set(files) == {"checkpoint", "tile/0/000.p/250", "tile/entries/000.p/250"}
    for path in (out / "checkpoint", out / "tile/0/000.p/250"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((out / "tile/0").stat().st_mode) == 0o755
    for name, content in files.items():
        assert client.get(f"/{name}").data == content, name

    tree = export.open_tree(log.log.engine, "export.test")
    fill(log, 60, start=250)
    done = export.export(tree, "export.test", out)
    assert (done.old_size, done.size, done.files) == (250, 310, 5)
    files = _files(out)  # the tiles that filled up lost their partial versions
    assert set(files) == {"checkpoint", "tile/0/000", "tile/0/001.p/54", "tile/entries/000",
                          "tile/entries/001.p/54", "tile/1/000.p/1"}  # fmt: skip
    for name, content in files.items():
        assert client.get(f"/{name}").data == content, name
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    fill(log, 10, start=310)
    assert export.export(tree, "export.test", out).files == 2
    for path, mtime in written.items():  # nothing already published is written again
        assert path.name == "checkpoint" or path.stat().st_mtime_ns == mtime, path
    assert {"tile/0/001.p/54", "tile/0/001.p/64", "tile/entries/001.p/64"} <= set(_files(out))
    assert export.export(tree, "export.test", out).files == 0
    verifier = note.verifier_for_key("export.test", log.signer.public_der)
    assert note.verify_checkpoint((out / "checkpoint").read_bytes(), [verifier]).size == 320


def test_an_export_that_disagrees_with_the_database_is_refused(tmp_path, served) -> None:
    log = served.extensions["rekor2"]
    fill(log, 3)
    out = tmp_path / "public"
    tree = export.open_tree(log.log.engine, "export.test")
    export.export(tree, "export.test", out)
    good = (out / "checkpoint").read_bytes()
    signed = note.SignedNote.from_text(good)
    checkpoint = note.Checkpoint.from_text(signed.text)
    lies = {
        "another log's checkpoint": (note.Checkpoint("other.test", 3, checkpoint.root_hash),
                                     "not of export.test"),
        "ahead of the database": (note.Checkpoint("export.test", 9, checkpoint.root_hash),
                                  "restored from an older backup"),
        "a fork": (note.Checkpoint("export.test", 2, checkpoint.root_hash),
                   "not a checkpoint of this log"),
    }  # fmt: skip
    for lie, message in lies.values():
        (out / "checkpoint").write_text(note.SignedNote(lie.to_text(), signed.signatures).to_text())
        before = _files(out)
        fill(log, 1, start=len(before) + 100)
        with pytest.raises(ConfigError, match=message):
            export.export(tree, "export.test", out)
        assert _files(out) == before  # nothing written
    (out / "checkpoint").write_text("not a note")
    with pytest.raises(ConfigError, match="is not a checkpoint"):
        export.export(tree, "export.test", out)


def test_the_export_command_needs_an_existing_log(tmp_path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        export.main(["--data-dir", str(tmp_path / "none"), "--to", str(tmp_path / "out")])


def test_resource_paths_are_the_api_paths() -> None:
    assert resources.parse("entries/x001/234.p/5") == resources.Resource(-1, 1234, 5)
    assert resources.Resource(-1, 1234, 5).path == "tile/entries/x001/234.p/5"

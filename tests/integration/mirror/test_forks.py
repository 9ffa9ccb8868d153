"""``sigstack mirror`` against a real ``sigstack serve rekor2`` (and its static ``export-tiles``
copy served by a plain web server): pulls and updates carry exactly the log, then the log is
restored from an older copy of its database under the same key and origin and grows again (a
fork). The connected mirror's update is refused, and so is the import of a bundle made from the
forked log on the site's side: both directories stay exactly as they were.

Trust here is a trusted root given by hand (``--trusted-root``); tests/integration/mirror/
test_air_gap.py covers TUF."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import urllib.request
from pathlib import Path

import pytest

from sigstack.protocol import note
from sigstack.protocol.trust import (
    TRUSTED_ROOT_V01,
    PublicKey,
    TimeRange,
    TransparencyLogInstance,
    TrustedRoot,
)
from sigstack.services.keys import load_signer
from tests.support.entries import v2_hashedrekord
from tests.support.servers import Service, free_port, serve_directory, sigstack_cli, sigstack_out
from tests.unit.mirror.kit import snapshot

pytestmark = pytest.mark.xdist_group("servers")

ORIGIN = "rekor2.mirror.test"


class Log:
    """``sigstack serve rekor2`` on one port, restartable from another data directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp, self.port, self.count = tmp, free_port(), 0
        self.srv: Service | None = None

    def serve(self, data: Path) -> Log:
        self.srv = Service("rekor2", "--data-dir", str(data), "--origin", ORIGIN, port=self.port,
                           log=self.tmp / f"{data.name}.log").start()  # fmt: skip
        return self

    @property
    def url(self) -> str:
        assert self.srv is not None
        return self.srv.url

    def add(self, n: int, tag: str = "entry") -> None:
        for _ in range(n):
            self.count += 1
            request = v2_hashedrekord(f"{tag} {self.count}".encode(), with_certificate=False)
            body = json.dumps(request.request).encode()
            req = urllib.request.Request(f"{self.url}/api/v2/log/entries", data=body,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(req, timeout=60) as resp:
                assert resp.status == 201

    def stop(self) -> None:
        assert self.srv is not None
        self.srv.stop()


def _backup(data: Path, to: Path) -> None:
    """The key and an online SQLite backup of the database (docs/backup.md)."""
    to.mkdir(mode=0o700)
    shutil.copy2(data / "rekor2-key.pem", to / "rekor2-key.pem")
    src, dst = sqlite3.connect(data / "rekor2.db"), sqlite3.connect(to / "rekor2.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


def _trusted_root(data: Path, url: str, path: Path) -> Path:
    signer = load_signer(f"file:{data / 'rekor2-key.pem'}")
    start = TimeRange(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    log = TransparencyLogInstance(base_url=url, hash_algorithm="SHA2_256",
                                  public_key=PublicKey(signer.public_der, "PKIX_ED25519", start),
                                  log_id=note.note_key_digest(ORIGIN, signer.public_key))  # fmt: skip
    root = TrustedRoot(media_type=TRUSTED_ROOT_V01, tlogs=(log,), certificate_authorities=(),
                       ctlogs=())  # fmt: skip
    path.write_text(root.to_json())
    return path


def _log_files(directory: Path) -> dict[str, bytes]:
    gen = directory / "current" / "log" / "rekor2.mirror.test"
    return {str(p.relative_to(gen)): p.read_bytes() for p in gen.rglob("*") if p.is_file()}


def test_a_forked_log_is_refused_on_both_sides(tmp_path: Path) -> None:
    log = Log(tmp_path).serve(tmp_path / "data")
    log.add(5)
    _backup(tmp_path / "data", tmp_path / "older")
    log.add(300)
    root = _trusted_root(tmp_path / "data", log.url, tmp_path / "trusted_root.json")
    out, site = tmp_path / "out", tmp_path / "site"
    sigstack_out("mirror", "pull", "--out", str(out), "--log", log.url, "--trusted-root", str(root))
    # the same log published as static files (rekor-tiles' way), read by the mirror's code
    sigstack_out("serve", "rekor2", "export-tiles", "--data-dir", str(tmp_path / "data"), "--to",
                 str(tmp_path / "static"))  # fmt: skip
    with serve_directory(tmp_path / "static") as static:
        sigstack_out("mirror", "pull", "--out", str(tmp_path / "from-static"), "--log",
                     static.url, "--trusted-root", str(root))  # fmt: skip
    assert _log_files(tmp_path / "from-static") == _log_files(out)
    sigstack_out("mirror", "export", "--dir", str(out), "--out", str(tmp_path / "1.tar"))
    sigstack_out("mirror", "import", str(tmp_path / "1.tar"), "--into", str(site),
                 "--trusted-root", str(root))  # fmt: skip
    assert _log_files(site) == _log_files(out)
    # an honest update on both sides first
    log.add(3)
    sigstack_out("mirror", "update", "--dir", str(out))
    sigstack_out("mirror", "export", "--dir", str(out), "--out", str(tmp_path / "2.tar"))
    sigstack_out("mirror", "import", str(tmp_path / "2.tar"), "--into", str(site))
    status = json.loads(sigstack_out("mirror", "status", "--dir", str(site), "--json"))
    assert [entry["size"] for entry in status["logs"]] == [308]
    # the log restored from the older copy, growing past what the mirrors hold
    log.stop()
    log.serve(tmp_path / "older")
    log.add(400, "forked")
    before = snapshot(out)
    refused = sigstack_cli("mirror", "update", "--dir", str(out))
    assert refused.returncode == 1
    assert "is not consistent with the mirror" in refused.stderr, refused.stderr
    assert "size 308" in refused.stderr and "Nothing was changed" in refused.stderr
    assert snapshot(out) == before
    # a bundle of the forked log (from another connected mirror), since the site's checkpoint
    other = tmp_path / "other"
    sigstack_out("mirror", "pull", "--out", str(other), "--log", log.url, "--trusted-root",
                 str(root))  # fmt: skip
    (tmp_path / "site-status.json").write_text(json.dumps(status))
    sigstack_out("mirror", "export", "--dir", str(other), "--out", str(tmp_path / "forked.tar"),
                 "--since", str(tmp_path / "site-status.json"))  # fmt: skip
    before = snapshot(site)
    refused = sigstack_cli("mirror", "import", str(tmp_path / "forked.tar"), "--into", str(site))
    assert refused.returncode == 1
    assert "is not consistent with the mirror" in refused.stderr, refused.stderr
    assert snapshot(site) == before
    log.stop()

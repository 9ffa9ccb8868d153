"""TUF bootstrap: ``sigstack initialize`` against a python-tuf repository served on loopback, then
verification from the cache (online and ``--offline``); a tampered target is refused; the real
staging repository copy replays with an injected clock and is refused as expired without it."""

from __future__ import annotations

import datetime as dt
import hashlib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from sigstack.client import tuf as client_tuf
from sigstack.client.cli import main
from sigstack.protocol.errors import ConfigError
from tests.support.servers import serve_directory
from tests.support.testdata import TESTDATA
from tests.support.tuf import small_repository

from .kit import IDENTITY, ISSUER, Kit

DATA = b"tuf-distributed trust\n"


def _build_repo(repo: Path, targets: dict[str, bytes]) -> bytes:
    """``small_repository`` laid out as a static mirror serves it; returns the root."""
    files = small_repository(targets)
    (repo / "targets").mkdir(parents=True)
    for name, data in targets.items():
        (repo / "targets" / name).write_bytes(data)
    for role, data in files.items():
        (repo / f"{role}.json").write_bytes(data)
    (repo / "1.root.json").write_bytes(files["root"])
    return files["root"]


@pytest.fixture
def served(tmp_path: Path):
    kit = Kit()
    repo = tmp_path / "repo"
    root_json = _build_repo(
        repo,
        {
            "trusted_root.json": kit.trusted_root().to_json().encode(),
            "signing_config.v0.2.json": b'{"mediaType": '
            b'"application/vnd.dev.sigstore.signingconfig.v0.2+json"}',
        },
    )
    (tmp_path / "root.json").write_bytes(root_json)
    with serve_directory(repo) as server:
        yield kit, server.url, tmp_path, repo


def test_initialize_then_verify_from_cache(served, monkeypatch, capsys) -> None:
    kit, url, tmp, repo = served
    monkeypatch.setenv("TUF_ROOT", str(tmp / "cache"))
    assert main(["initialize", "--mirror", url, "--root", str(tmp / "root.json")]) == 0
    assert "trusted_root.json" in capsys.readouterr().err
    bundle, _ = kit.sign_blob(DATA)
    (tmp / "b.json").write_text(bundle.to_json())
    (tmp / "a.txt").write_bytes(DATA)
    args = ["verify-blob", str(tmp / "a.txt"), "--bundle", str(tmp / "b.json"),
            "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]  # fmt: skip
    assert main(args) == 0
    assert main([*args, "--offline"]) == 0
    # the mirror now serves a changed trusted root without re-signing: refused on refresh, both
    # when the length is unchanged (hash mismatch) and when it grew (length mismatch)
    monkeypatch.setattr(client_tuf, "REFRESH_AFTER", -1)
    cache_dir = client_tuf._mirror_dir(tmp / "cache", url)
    served_root = repo / "targets" / "trusted_root.json"
    original = served_root.read_bytes()
    for tampered in (original.replace(b"https://log.test", b"https://log.evil"), original + b" "):
        served_root.write_bytes(tampered)
        (cache_dir / "targets" / "trusted_root.json").unlink(missing_ok=True)
        capsys.readouterr()
        assert main(args) == 1
        assert "failed verification" in capsys.readouterr().err


def test_initialize_needs_a_root(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TUF_ROOT", str(tmp_path))
    assert main(["initialize", "--mirror", "http://127.0.0.1:9"]) == 1
    assert "--root" in capsys.readouterr().err


def test_root_checksum(served, monkeypatch, capsys) -> None:
    _, url, tmp, _ = served
    monkeypatch.setenv("TUF_ROOT", str(tmp / "cache"))
    good = hashlib.sha256((tmp / "root.json").read_bytes()).hexdigest()
    base = ["initialize", "--mirror", url, "--root", str(tmp / "root.json")]
    assert main([*base, "--root-checksum", "sha256:" + "0" * 64]) == 1
    assert main([*base, "--root-checksum", f"sha256:{good}"]) == 0


def test_no_trust_configured(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("TUF_ROOT", str(tmp_path))
    for var in ("SIGSTORE_ROOT_FILE", "SIGSTORE_REKOR_PUBLIC_KEY"):
        monkeypatch.delenv(var, raising=False)
    case = TESTDATA / "pyassets/cases/staging-v0.3-happy-path"
    assert main(["verify-bundle", "--bundle", str(case / "bundle.sigstore.json"),
                 "--certificate-identity", "x", "--certificate-oidc-issuer", "y",
                 str(case / "artifact")]) == 1  # fmt: skip
    assert "sigstack initialize" in capsys.readouterr().err


STAGING_TUF = TESTDATA / "pyassets/test-assets/staging-tuf"


def _local_fetcher():
    from tuf.api.exceptions import DownloadHTTPError
    from tuf.ngclient import FetcherInterface

    class Local(FetcherInterface):
        def _fetch(self, url: str) -> Iterator[bytes]:
            path = STAGING_TUF / url.removeprefix(client_tuf.STAGING + "/")
            if not path.is_file():
                raise DownloadHTTPError(f"{url} not found", 404)
            return iter([path.read_bytes()])

    return Local()


def test_staging_replay_with_frozen_clock(tmp_path, monkeypatch) -> None:
    from tuf.ngclient._internal import trusted_metadata_set

    class Frozen(dt.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return dt.datetime(2025, 5, 6, tzinfo=dt.UTC)

    root = (TESTDATA / "pyassets/trust/staging/root.json").read_bytes()
    env = {"TUF_ROOT": str(tmp_path)}
    with pytest.raises(ConfigError, match="[Ee]xpired"):
        client_tuf.initialize(client_tuf.STAGING, root, env, fetcher=_local_fetcher())
    monkeypatch.setattr(
        trusted_metadata_set,
        "datetime",
        types.SimpleNamespace(datetime=Frozen, timezone=dt.timezone),
    )
    # trusted_root.json verifies; the copy of signing_config.v0.2.json in testdata lost a byte
    # (1021 vs the 1022 that targets.json records), and TUF must refuse it
    with pytest.raises(ConfigError, match="signing_config.v0.2.json failed verification"):
        client_tuf.initialize(client_tuf.STAGING, root, env, fetcher=_local_fetcher())
    from sigstack.protocol.trust import TrustedRoot

    where = client_tuf._mirror_dir(tmp_path, client_tuf.STAGING)
    data = (where / "targets" / "trusted_root.json").read_bytes()
    root_doc = TrustedRoot.from_json(data)
    assert any("sigstage" in t.base_url for t in root_doc.tlogs)
    # the offline check of the cache, on the real metadata (expired by now: not checked offline)
    monkeypatch.undo()
    client_tuf._verify_cached(where, client_tuf.STAGING, "trusted_root.json", data, None)
    with pytest.raises(ConfigError, match="does not match the TUF metadata"):
        client_tuf._verify_cached(where, client_tuf.STAGING, "trusted_root.json", data + b" ", None)


def _swap_cached_root(tmp: Path, url: str, data: bytes) -> None:
    cached = client_tuf._mirror_dir(tmp / "cache", url) / "targets" / "trusted_root.json"
    cached.write_bytes(data)


def test_offline_cache_is_checked_against_the_tuf_metadata(served, monkeypatch, capsys) -> None:
    """Security review, issue 11 section 3, item 7: with --offline the cached trusted_root.json
    must still match the hashes in the cached (signed) TUF metadata. Here someone who can write
    the cache swaps in the trusted root of their own instance and signs with it."""
    kit, url, tmp, _ = served
    monkeypatch.setenv("TUF_ROOT", str(tmp / "cache"))
    assert main(["initialize", "--mirror", url, "--root", str(tmp / "root.json")]) == 0
    attacker = Kit()
    bundle, _ = attacker.sign_blob(DATA)
    (tmp / "b.json").write_text(bundle.to_json())
    (tmp / "a.txt").write_bytes(DATA)
    args = ["verify-blob", str(tmp / "a.txt"), "--bundle", str(tmp / "b.json"),
            "--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER, "--offline"]  # fmt: skip
    genuine = client_tuf._mirror_dir(tmp / "cache", url) / "targets" / "trusted_root.json"
    original = genuine.read_bytes()
    _swap_cached_root(tmp, url, attacker.trusted_root().to_json().encode())
    capsys.readouterr()
    assert main(args) == 1
    assert "TUF metadata" in capsys.readouterr().err
    # the same length, other bytes: the hash decides
    _swap_cached_root(tmp, url, original.replace(b"https://log.test", b"https://log.evil"))
    assert main(args) == 1
    # the genuine cache still works offline (for the genuine signer's bundle)
    _swap_cached_root(tmp, url, original)
    good, _ = kit.sign_blob(DATA)
    (tmp / "b.json").write_text(good.to_json())
    assert main(args) == 0


def test_offline_cache_with_tampered_metadata_is_refused(served, monkeypatch, capsys) -> None:
    """Rewriting targets.json to match a swapped target breaks its signature."""
    import json

    from tuf.api.metadata import Metadata, TargetFile

    kit, url, tmp, _ = served
    monkeypatch.setenv("TUF_ROOT", str(tmp / "cache"))
    assert main(["initialize", "--mirror", url, "--root", str(tmp / "root.json")]) == 0
    where = client_tuf._mirror_dir(tmp / "cache", url)
    evil = Kit().trusted_root().to_json().encode()
    (where / "targets" / "trusted_root.json").write_bytes(evil)
    targets = Metadata.from_file(str(where / "metadata" / "targets.json"))
    targets.signed.targets["trusted_root.json"] = TargetFile.from_data("trusted_root.json", evil)
    (where / "metadata" / "targets.json").write_bytes(targets.to_bytes())
    opts = types.SimpleNamespace(offline=True, staging=False)
    with pytest.raises(ConfigError, match="TUF metadata"):
        client_tuf.cached_target("trusted_root.json", opts, {"TUF_ROOT": str(tmp / "cache")})
    assert json.loads(evil)  # the swapped root was well-formed: only TUF stops it

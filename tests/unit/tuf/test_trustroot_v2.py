"""Rekor v2 logs and TSAs in the trust documents: the v2 log's ID is its C2SP checkpoint key ID,
windows for the TSA and the v2 log, signing-config services with API versions and windows (cosign's
``url=...,api-version=...`` form), and `sigstack tuf` building both, checked by sigstore-python
4.5.1 itself where it has an opinion."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sigstore.models import ClientTrustConfig, TrustedRoot

from sigstack.protocol import note
from sigstack.protocol.errors import ValidationError
from sigstack.services.tuf import signingconfig, trustroot
from sigstack.services.tuf.cli import main as tuf_main

from .test_trustroot import _ca_chain, _pub

NOW = datetime(2026, 11, 25, tzinfo=UTC)
ORIGIN = "log2026-1.rekor.example"


def _tsa_chain() -> list[bytes]:
    return _ca_chain()  # two certificates, leaf-most first: all a TSA entry needs to be built


def _root(v2_key, **extra) -> dict:
    return trustroot.build_trusted_root(
        fulcio_chain_pem=_ca_chain(),
        fulcio_url="https://fulcio.example",
        ctlog_public_key=_pub(ec.generate_private_key(ec.SECP256R1())),
        ctlog_url="https://ctlog.example",
        rekor_public_key=_pub(ec.generate_private_key(ec.SECP256R1())),
        rekor_url="https://rekor.example",
        rekor_v2=trustroot.RekorV2(_pub(v2_key), "https://log2026-1.rekor.example", ORIGIN),
        valid_from=NOW,
        **extra,
    )


def test_the_v2_log_is_listed_after_v1_under_its_checkpoint_key_id() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    doc = _root(key)
    v1, v2 = doc["tlogs"]
    assert v1["baseUrl"] == "https://rekor.example"
    assert v2["baseUrl"] == "https://log2026-1.rekor.example"
    assert v2["publicKey"]["keyDetails"] == "PKIX_ED25519"
    key_id = base64.b64decode(v2["logId"]["keyId"])
    assert key_id == note.note_key_digest(ORIGIN, key.public_key())
    # the hint rekor-tiles puts on its checkpoint signature line is the key ID's first 4 bytes
    assert key_id[:4] == note.ed25519_key_id(
        ORIGIN,
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    )
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    der = ecdsa.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert trustroot.rekor_v2_log_id(_pub(ecdsa), ORIGIN) == hashlib.sha256(der).digest()
    with pytest.raises(ValidationError, match="origin"):
        trustroot.rekor_v2_log_id(_pub(key), "")


def test_tsa_window_and_sigstore_python_reads_it(tmp_path: Path) -> None:
    end = NOW + timedelta(days=30)
    doc = _root(
        ed25519.Ed25519PrivateKey.generate(),
        tsa_chain_pem=_tsa_chain(),
        tsa_url="https://tsa.example/api/v1/timestamp",
        tsa_window=(NOW - timedelta(days=1), end),
    )
    (tsa,) = doc["timestampAuthorities"]
    assert tsa["validFor"] == {"start": "2026-11-24T00:00:00Z", "end": "2026-12-25T00:00:00Z"}
    assert tsa["uri"] == "https://tsa.example/api/v1/timestamp"
    path = tmp_path / "trusted_root.json"
    path.write_text(json.dumps(doc))
    TrustedRoot.from_file(str(path))
    with pytest.raises(ValidationError, match="after validFor.start"):
        _root(ed25519.Ed25519PrivateKey.generate(), tsa_chain_pem=_tsa_chain(),
              tsa_url="https://tsa.example", tsa_window=(NOW, NOW))  # fmt: skip
    with pytest.raises(ValidationError, match="needs the TSA's certificate chain"):
        _root(ed25519.Ed25519PrivateKey.generate(), tsa_url="https://tsa.example")


def test_parse_service_plain_url_and_cosign_form() -> None:
    plain = signingconfig.parse_service("https://rekor.example/", "op", start=NOW, api_version=2)
    assert plain == {"url": "https://rekor.example", "majorApiVersion": 2,
                     "validFor": {"start": "2026-11-25T00:00:00Z"}, "operator": "op"}  # fmt: skip
    full = signingconfig.parse_service(
        "url=https://rekor.example,api-version=1,start-time=2026-01-01T00:00:00Z,"
        "end-time=2026-12-31T00:00:00Z,operator=other",
        "op",
        start=NOW,
    )
    assert full == {"url": "https://rekor.example", "majorApiVersion": 1,
                    "validFor": {"start": "2026-01-01T00:00:00Z", "end": "2026-12-31T00:00:00Z"},
                    "operator": "other"}  # fmt: skip
    for bad, words in (
        ("url=https://a,colour=red", "KEY=VALUE"),
        ("url=https://a,url=https://b", "given twice"),
        ("api-version=2", "names no url"),
        ("url=https://a,api-version=two", "not a number"),
        ("url=https://a,api-version=0", "at least 1"),
        ("url=https://a,start-time=yesterday", "ISO 8601"),
        ("url=https://a,end-time=2020-01-01T00:00:00Z", "after validFor.start"),
    ):
        with pytest.raises(ValidationError, match=words):
            signingconfig.parse_service(bad, "op", start=NOW)


def test_a_v2_signing_config_lists_v2_first_and_sigstore_python_picks_it() -> None:
    config = signingconfig.build_signing_config(
        ca_urls=["https://fulcio.example"],
        oidc_urls=[],
        rekor_urls=["https://rekor.example"],
        rekor_v2_urls=["https://log2026-1.rekor.example"],
        tsa_urls=["https://tsa.example/api/v1/timestamp"],
        operator="sigstack.test",
        valid_from=NOW - timedelta(days=1),
    )
    assert [(s["url"], s["majorApiVersion"]) for s in config["rekorTlogUrls"]] == [
        ("https://log2026-1.rekor.example", 2), ("https://rekor.example", 1)]  # fmt: skip
    root = _root(ed25519.Ed25519PrivateKey.generate())
    cfg = ClientTrustConfig.from_json(json.dumps(trustroot.build_client_trust_config(root, config)))
    (tlog,) = cfg.signing_config.get_tlogs()
    assert type(tlog).__name__ == "RekorV2Client"
    assert len(cfg.signing_config.get_tsas()) == 1
    with pytest.raises(ValidationError, match="one Rekor URL"):
        signingconfig.build_signing_config(ca_urls=["https://f"], oidc_urls=[], rekor_urls=[],
                                       operator="o", valid_from=NOW)  # fmt: skip


def test_cli_builds_both_documents_with_windows(tmp_path: Path, capsys) -> None:
    fulcio, ct, rekor, v2, tsa = (
        tmp_path / n for n in ("f.pem", "ct.pem", "r.pem", "v2.pem", "t.pem")
    )
    fulcio.write_bytes(b"".join(_ca_chain()))
    ct.write_bytes(_pub(ec.generate_private_key(ec.SECP256R1())))
    rekor.write_bytes(_pub(ec.generate_private_key(ec.SECP256R1())))
    v2_key = ed25519.Ed25519PrivateKey.generate()
    v2.write_bytes(_pub(v2_key))
    tsa.write_bytes(b"".join(_tsa_chain()))
    out = tmp_path / "trusted_root.json"
    assert tuf_main(["trusted-root", "--fulcio-chain", str(fulcio), "--fulcio-url", "https://f",
                     "--ctlog-key", str(ct), "--ctlog-url", "https://ct", "--rekor-key", str(rekor),
                     "--rekor-url", "https://r", "--rekor2-key", str(v2), "--rekor2-url",
                     f"https://{ORIGIN}", "--rekor2-origin", ORIGIN, "--rekor2-valid-until",
                     "2027-06-01T00:00:00Z", "--tsa-chain", str(tsa), "--tsa-url",
                     "https://t/api/v1/timestamp", "--tsa-valid-from", "2026-01-01T00:00:00Z",
                     "--valid-from", "2026-06-01T00:00:00Z", "-o", str(out)]) == 0  # fmt: skip
    doc = json.loads(out.read_text())
    assert (
        doc["tlogs"][1]["logId"]["keyId"]
        == base64.b64encode(note.note_key_digest(ORIGIN, v2_key.public_key())).decode()
    )
    assert doc["tlogs"][1]["publicKey"]["validFor"] == {
        "start": "2026-06-01T00:00:00Z", "end": "2027-06-01T00:00:00Z"}  # fmt: skip
    assert doc["timestampAuthorities"][0]["validFor"] == {"start": "2026-01-01T00:00:00Z"}
    TrustedRoot.from_file(str(out))

    signing = tmp_path / "signing_config.json"
    assert tuf_main(["signing-config", "--ca-url", "https://f", "--rekor2-url", f"https://{ORIGIN}",
                     "--rekor-url", "url=https://r,end-time=2027-01-01T00:00:00Z",
                     "--tsa-url", "url=https://t/api/v1/timestamp,start-time=2026-01-01T00:00:00Z",
                     "--operator", "sigstack.test", "--valid-from", "2026-06-01T00:00:00Z",
                     "-o", str(signing)]) == 0  # fmt: skip
    config = json.loads(signing.read_text())
    assert [(s["majorApiVersion"], s["validFor"]) for s in config["rekorTlogUrls"]] == [
        (2, {"start": "2026-06-01T00:00:00Z"}),
        (1, {"start": "2026-06-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}),
    ]
    assert config["tsaUrls"][0]["validFor"] == {"start": "2026-01-01T00:00:00Z"}
    ClientTrustConfig.from_json(json.dumps(trustroot.build_client_trust_config(doc, config)))

    # a v2 log without its origin cannot be given a log ID
    with pytest.raises(ValidationError, match="--rekor2-origin"):
        tuf_main(["trusted-root", "--fulcio-chain", str(fulcio), "--fulcio-url", "https://f",
                  "--ctlog-key", str(ct), "--ctlog-url", "https://ct", "--rekor-key", str(rekor),
                  "--rekor-url", "https://r", "--rekor2-key", str(v2), "--rekor2-url", "https://x"])  # fmt: skip


def test_rotating_in_a_v2_log_uses_its_checkpoint_key_id(tmp_path: Path) -> None:
    current = tmp_path / "root.json"
    current.write_text(json.dumps(_root(ed25519.Ed25519PrivateKey.generate())))
    new_key = ed25519.Ed25519PrivateKey.generate()
    key_file = tmp_path / "new.pem"
    key_file.write_bytes(_pub(new_key))
    out = tmp_path / "rotated.json"
    assert tuf_main(["trusted-root-rotate", str(current), "--kind", "tlogs", "--key", str(key_file),
                     "--url", "https://log2026-2.rekor.example", "--origin",
                     "log2026-2.rekor.example", "--at", "2026-12-01T00:00:00Z", "-o", str(out)]) == 0  # fmt: skip
    tlogs = json.loads(out.read_text())["tlogs"]
    assert len(tlogs) == 3
    assert base64.b64decode(tlogs[2]["logId"]["keyId"]) == note.note_key_digest(
        "log2026-2.rekor.example", new_key.public_key()
    )


def test_up_adds_the_tsa_and_the_v2_log_to_an_older_stacks_documents(tmp_path: Path) -> None:
    """A data directory from an `up` that ran neither the TSA nor the v2 log: the published
    entries stay as they were (no window closed), the new ones are added, and the signing
    configs are new; a second run with the same services changes nothing."""
    from sigstack.services import stack, stack_trust

    (tmp_path / "fulcio" / "ca").mkdir(parents=True)
    (tmp_path / "fulcio" / "ca" / "chain.pem").write_bytes(b"".join(_ca_chain()))
    keys = {"rekor": _pub(ec.generate_private_key(ec.SECP256R1())),
            "ctlog": _pub(ec.generate_private_key(ec.SECP256R1())),
            "rekor2": _pub(ed25519.Ed25519PrivateKey.generate()), "rekor2_origin": "127.0.0.1:5556",
            "tsa_chain": b"".join(_tsa_chain())}  # fmt: skip
    urls = {name: f"http://127.0.0.1:{5550 + i}" for i, name in enumerate(stack.SERVICES)}
    root, signing = stack_trust.trust_documents(tmp_path, urls, keys)
    old = {**root, "tlogs": root["tlogs"][:1], "timestampAuthorities": []}
    (tmp_path / "trusted_root.json").write_text(json.dumps(old))
    old_signing = {**signing["default"], "tsaUrls": []}
    (tmp_path / "signing_config.json").write_text(json.dumps(old_signing))

    upgraded, signing = stack_trust.trust_documents(tmp_path, urls, keys)
    assert upgraded["tlogs"][0] == old["tlogs"][0]  # untouched: no end added
    assert [t["baseUrl"] for t in upgraded["tlogs"]] == [urls["rekor"], urls["rekor2"]]
    assert upgraded["timestampAuthorities"][0]["uri"] == urls["tsa"] + "/api/v1/timestamp"
    assert signing["default"]["tsaUrls"] and signing["default"] != old_signing
    for name in ("default", "rekor_v2"):
        (tmp_path / stack_trust.SIGNING_FILES[name]).write_text(json.dumps(signing[name]))
    (tmp_path / "trusted_root.json").write_text(json.dumps(upgraded))
    assert stack_trust.trust_documents(tmp_path, urls, keys) == (upgraded, signing)

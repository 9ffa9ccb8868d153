"""Reference parsing, docker-config credentials, challenge parsing and cosign's documents."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from sigstack.client.oci import formats
from sigstack.client.oci.auth import Credentials, credentials_for, parse_challenge
from sigstack.client.oci.reference import Reference
from sigstack.protocol.bundle import KindVersion, TransparencyLogEntry
from sigstack.protocol.errors import ValidationError, VerificationError

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repo", "tag", "digest"),
    [
        ("busybox", "index.docker.io", "library/busybox", "latest", None),
        ("docker.io/org/app:1.2", "index.docker.io", "org/app", "1.2", None),
        ("127.0.0.1:5000/a/b:v1", "127.0.0.1:5000", "a/b", "v1", None),
        (f"localhost:5000/x@{D}", "localhost:5000", "x", None, D),
        (f"ghcr.io/o/r:t@{D}", "ghcr.io", "o/r", "t", D),
        ("[::1]:5000/r", "[::1]:5000", "r", "latest", None),
        ("org/app", "index.docker.io", "org/app", "latest", None),
    ],
)
def test_parse(text, registry, repo, tag, digest) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


@pytest.mark.parametrize(
    "text", ["UPPER/case", "host:5000/r@sha256:abc", "r:bad tag", "", "host.io/", "a//b"]
)
def test_parse_refuses(text) -> None:
    with pytest.raises(ValidationError):
        Reference.parse(text)


def test_reference_properties() -> None:
    ref = Reference.parse("127.0.0.1:5000/team/app:v1")
    assert ref.is_loopback and ref.identifier == "v1" and ref.name == "127.0.0.1:5000/team/app"
    assert str(ref.with_digest(D)) == f"127.0.0.1:5000/team/app@{D}"
    hub = Reference.parse("busybox")
    assert hub.api_host == "registry-1.docker.io" and not hub.is_loopback


def _config(tmp: Path, obj: dict) -> dict[str, str]:
    (tmp / "config.json").write_text(json.dumps(obj))
    return {"DOCKER_CONFIG": str(tmp), "HOME": "/nonexistent"}


def test_credentials_from_docker_config(tmp_path) -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    env = _config(tmp_path, {"auths": {
        "reg.example:5000": {"auth": auth},
        "https://other.example": {"username": "bob", "password": "pw"},
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"hub:tok").decode()},
    }})  # fmt: skip
    assert credentials_for("reg.example:5000", env) == Credentials("alice", "pa:ss")
    assert credentials_for("other.example", env) == Credentials("bob", "pw")
    assert credentials_for("index.docker.io", env) == Credentials("hub", "tok")
    assert credentials_for("unknown.example", env) is None
    assert credentials_for("x", {"DOCKER_CONFIG": str(tmp_path / "none")}) is None


def test_credentials_from_home_and_bad_entries(tmp_path) -> None:
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"r.example": {"auth": base64.b64encode(b"nocolon").decode()}}})
    )
    with pytest.raises(ValidationError, match="not base64 user:password"):
        credentials_for("r.example", {"HOME": str(tmp_path)})
    (tmp_path / ".docker" / "config.json").write_text("{not json")
    with pytest.raises(ValidationError, match="is not valid JSON"):
        credentials_for("r.example", {"HOME": str(tmp_path)})


def test_credential_helper(tmp_path, monkeypatch) -> None:
    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text(
        '#!/bin/sh\nread host\n[ "$host" = "r.example" ] || exit 1\n'
        'echo \'{"ServerURL":"r.example","Username":"helper","Secret":"s3"}\'\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    env = _config(tmp_path, {"credHelpers": {"r.example": "fake"}})
    assert credentials_for("r.example", env) == Credentials("helper", "s3")
    env = _config(tmp_path, {"credsStore": "fake"})
    assert credentials_for("other.example", env) is None  # the helper exits 1: not found


def test_parse_challenge() -> None:
    c = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push"'
    )
    assert c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "registry.example",
                        "scope": "repository:a/b:pull,push"}  # fmt: skip
    assert parse_challenge('Basic realm="x"').scheme == "basic"


def test_simple_signing_round_trip_and_refusals() -> None:
    payload = formats.simple_signing_payload("r.example/app", D, {"k": "v"})
    doc = formats.check_simple_signing(payload, D, {"k": "v"})
    assert doc["critical"]["identity"]["docker-reference"] == "r.example/app"
    assert json.loads(formats.simple_signing_payload("r/a", D, None))["optional"] is None
    other = "sha256:" + "cd" * 32
    with pytest.raises(VerificationError, match=f"for manifest {D}, not for the image's digest"):
        formats.check_simple_signing(payload, other, {})
    with pytest.raises(VerificationError, match="lacks the annotation k=w"):
        formats.check_simple_signing(payload, D, {"k": "w"})
    with pytest.raises(VerificationError, match="not a simple-signing"):
        formats.check_simple_signing(b"[]", D, {})
    bad_type = payload.replace(b"cosign container image signature", b"something else")
    with pytest.raises(VerificationError, match="critical.type"):
        formats.check_simple_signing(bad_type, D, {})


def test_rekor_bundle_round_trip() -> None:
    body = json.dumps({"kind": "hashedrekord", "apiVersion": "0.0.1", "spec": {}}).encode()
    entry = TransparencyLogEntry(
        log_index=7, log_id=b"\x01" * 32, kind_version=KindVersion("hashedrekord", "0.0.1"),
        integrated_time=1700000000, canonicalized_body=body, inclusion_promise=b"set",
    )  # fmt: skip
    text = formats.rekor_bundle_annotation(entry)
    assert json.loads(text)["Payload"]["logID"] == "01" * 32
    back = formats.parse_rekor_bundle(text)
    assert (back.log_index, back.integrated_time, back.canonicalized_body) == (7, 1700000000, body)
    assert back.inclusion_promise == b"set" and back.kind_version.kind == "hashedrekord"
    for broken in ("{}", "not json", text.replace('"logIndex":7', '"logIndex":"7"')):
        with pytest.raises(VerificationError, match="Rekor bundle annotation is malformed"):
            formats.parse_rekor_bundle(broken)


def test_envelope_round_trip_and_tags() -> None:
    from sigstack.protocol.bundle import DsseEnvelope, DsseSignature

    env = DsseEnvelope(b'{"a":1}', "application/vnd.in-toto+json", (DsseSignature(b"sig"),))
    assert formats.parse_envelope(formats.envelope_json(env)) == env
    with pytest.raises(VerificationError, match="not a DSSE envelope"):
        formats.parse_envelope(b'{"payload": "!!"}')
    assert formats.legacy_tag(D, "sig") == "sha256-" + "ab" * 32 + ".sig"
    statement = json.loads(formats.intoto_statement(D, formats.SIGN_PREDICATE, {}, {"a": "b"}))
    assert statement["subject"] == [{"digest": {"sha256": "ab" * 32}, "annotations": {"a": "b"}}]


def test_boolean_flags_never_take_the_image() -> None:
    from sigstack.client.commands.oci import _bool_flags

    names = ("--new-bundle-format",)
    assert _bool_flags(["--new-bundle-format", "img"], names) == ["--new-bundle-format", "img"]
    assert _bool_flags(["img", "--new-bundle-format=true"], names) == ["img", "--new-bundle-format"]
    assert _bool_flags(["img", "--new-bundle-format=false"], names) == ["img"]
    with pytest.raises(ValidationError, match="takes true or false"):
        _bool_flags(["--new-bundle-format=yes"], names)


@pytest.mark.parametrize("value", [True, 5, ["YTpi"], {"a": "b"}])
def test_docker_config_auth_that_is_not_a_string(tmp_path, value) -> None:
    """An ``auth`` of another JSON type was a TypeError from base64 (found by fuzzing)."""
    env = _config(tmp_path, {"auths": {"r.example": {"auth": value}}})
    with pytest.raises(ValidationError, match="not base64 user:password"):
        credentials_for("r.example", env)

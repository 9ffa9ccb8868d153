"""The real clients against the stack's TSA and Rekor v2 log (issue 13, "the stack and the client").

One stack (the session's ``sigstack up``) for every case:

1. sigstore-python 4.5.1 signs with ``trust_config_rekor_v2.json``: a hashedrekord 0.0.2 entry in
   our v2 log and an RFC 3161 timestamp from our TSA; sigstore-python and ``sigstack verify-blob``
   verify it.
2. ``sigstack sign-blob`` / ``attest-blob`` with the v2 config (and ``--rekor-version 1``);
   sigstore-python verifies.
3. sigstore-python with the default config gets a TSA timestamp beside its Rekor v1 entry; both
   verify.
4. ``@sigstore/cli attest`` against our Fulcio, Rekor v1 and TSA (an intoto 0.0.2 entry);
   ``sigstack verify-bundle`` and ``@sigstore/cli verify`` (trust from our TUF) accept it.
5. ``@sigstore/cli verify`` of bundles whose only log entry is in our v2 log (trust from our TUF).
6. A wrong identity, a timestamp outside the TSA's validity window, a tampered timestamp and a
   timestamp over another signature are refused by our verifier and by sigstore-python.
7. The sigstore-js library (``@sigstore/sign`` 5.1.0) signs from our v2 signing config in a Node
   script (tests/interop/js); ``sigstack verify-bundle`` and sigstore-python verify the result.
"""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.interop.conftest import NPM_SIGSTORE, SIGSTORE_PY, Stack, run, sigstack
from tests.support.testdata import ROOT

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("stack")]

NODE_MODULES = ROOT / ".cache" / "npm" / "node_modules"
JS_SIGNER = Path(__file__).with_name("js") / "sign_with_sigstore_js.js"
V2 = {"kind": "hashedrekord", "version": "0.0.2"}


def _needs_npm(*packages: str) -> None:
    for package in packages:
        if not (NODE_MODULES / package / "package.json").exists():
            pytest.skip(f"needs {package} in .cache/npm (.ci/system-deps installs it)")


def _artifact(directory: Path, text: str) -> Path:
    path = directory / "artifact.txt"
    path.write_text(text)
    return path


def _material(bundle: Path) -> dict[str, Any]:
    return json.loads(bundle.read_text())["verificationMaterial"]  # type: ignore[no-any-return]


def _entry(bundle: Path) -> dict[str, Any]:
    entries = _material(bundle)["tlogEntries"]
    assert len(entries) == 1
    return entries[0]  # type: ignore[no-any-return]


def _stamps(bundle: Path) -> list[dict[str, str]]:
    return _material(bundle).get("timestampVerificationData", {}).get("rfc3161Timestamps", [])  # type: ignore[no-any-return]


def _log_id(stack: Stack, base_url: str) -> str:
    root = json.loads((stack.data / "trusted_root.json").read_text())
    (log,) = [t for t in root["tlogs"] if t["baseUrl"] == base_url]
    return log["logId"]["keyId"]  # type: ignore[no-any-return]


def _py_sign(stack: Stack, config: Path, artifact: Path, bundle: Path) -> None:
    signed = run([str(SIGSTORE_PY), "--trust-config", str(config), "sign", "--identity-token",
                  stack.token(), "--bundle", str(bundle), str(artifact)])  # fmt: skip
    assert signed.returncode == 0, signed.stderr


def _py_verify(
    stack: Stack, config: Path, bundle: Path, artifact: Path, identity: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run([str(SIGSTORE_PY), "--trust-config", str(config), "verify", "identity",
                "--offline", "--bundle", str(bundle), "--cert-identity", identity or stack.identity,
                "--cert-oidc-issuer", stack.urls["oidc"], str(artifact)])  # fmt: skip


def _our_verify(
    stack: Stack, bundle: Path, artifact: Path, *trust: str, identity: str | None = None
) -> subprocess.CompletedProcess[str]:
    trust = trust or ("--trust-config", str(stack.trust_config_v2))
    return sigstack("verify-blob", str(artifact), "--bundle", str(bundle), *trust,
                    "--certificate-identity", identity or stack.identity,
                    "--certificate-oidc-issuer", stack.urls["oidc"])  # fmt: skip


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def _refused(done: subprocess.CompletedProcess[str], *reasons: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert "Traceback" not in out, out
    if reasons:
        assert any(r in out for r in reasons), out


def _js_verify(
    stack: Stack, bundle: Path, cache: Path, artifact: Path | None = None, identity: str = ""
) -> subprocess.CompletedProcess[str]:
    blob = ["--blob-file", str(artifact)] if artifact else []
    return run([str(NPM_SIGSTORE), "verify", str(bundle), *blob,
                "--certificate-identity-email", identity or stack.identity,
                "--certificate-issuer", stack.urls["oidc"],
                "--tuf-mirror-url", stack.urls["tuf"],
                "--tuf-root-path", str(stack.data / "tuf" / "root.json"),
                "--tuf-cache-path", str(cache)])  # fmt: skip


@pytest.fixture(scope="module")
def py_v2(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(artifact, bundle): sigstore-python 4.5.1 signed through our Fulcio, v2 log and TSA."""
    directory = tmp_path_factory.mktemp("py-v2")
    artifact, bundle = _artifact(directory, "sigstore-python, Rekor v2\n"), directory / "b.json"
    _py_sign(stack, stack.trust_config_v2, artifact, bundle)
    return artifact, bundle


# -- 1 -----------------------------------------------------------------------------------------


def test_sigstore_python_signs_to_our_v2_log_with_our_tsa(stack: Stack, py_v2) -> None:
    artifact, bundle = py_v2
    entry = _entry(bundle)
    assert entry["kindVersion"] == V2
    assert entry["logId"]["keyId"] == _log_id(stack, stack.urls["rekor2"])
    assert "inclusionPromise" not in entry and entry.get("integratedTime", "0") == "0"
    assert len(_stamps(bundle)) == 1
    assert "OK" in _ok(_py_verify(stack, stack.trust_config_v2, bundle, artifact))
    ours = _ok(_our_verify(stack, bundle, artifact))
    assert "1 signed timestamp(s) verified against a trusted TSA" in ours
    # the default trust config holds the same trusted root: it verifies there too
    _ok(_our_verify(stack, bundle, artifact, "--trust-config", str(stack.trust_config)))


# -- 2 -----------------------------------------------------------------------------------------


def test_sigstack_signs_to_our_v2_log_and_sigstore_python_verifies(stack: Stack, tmp_path) -> None:
    artifact, bundle = _artifact(tmp_path, "sigstack, Rekor v2\n"), tmp_path / "v2.json"
    token = stack.token()
    signed = _ok(sigstack("sign-blob", str(artifact), "--bundle", str(bundle), "--trust-config",
                          str(stack.trust_config_v2), "--identity-token", token))  # fmt: skip
    assert "(Rekor v2)" in signed and "signed timestamp" in signed
    assert _entry(bundle)["kindVersion"] == V2 and len(_stamps(bundle)) == 1
    _ok(_py_verify(stack, stack.trust_config_v2, bundle, artifact))

    # an attestation: a DSSE envelope, logged in v2 as a hashedrekord over its PAE
    predicate, attestation = tmp_path / "predicate.json", tmp_path / "att.json"
    predicate.write_text('{"builder": "interop"}')
    _ok(sigstack("attest-blob", str(artifact), "--predicate", str(predicate), "--bundle",
                 str(attestation), "--trust-config", str(stack.trust_config_v2),
                 "--identity-token", token))  # fmt: skip
    assert _entry(attestation)["kindVersion"] == V2
    _ok(_py_verify(stack, stack.trust_config_v2, attestation, artifact))

    # --rekor-version 1 forces the v1 log the v2 config lists as its fallback
    forced = tmp_path / "v1.json"
    _ok(sigstack("sign-blob", str(artifact), "--bundle", str(forced), "--trust-config",
                 str(stack.trust_config_v2), "--identity-token", token, "--rekor-version", "1"))  # fmt: skip
    assert _entry(forced)["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    _ok(_py_verify(stack, stack.trust_config, forced, artifact))
    # the default config lists no v2 log: forcing v2 is refused before any sign-in
    nothing = tmp_path / "none.json"
    refused = sigstack("sign-blob", str(artifact), "--bundle", str(nothing), "--trust-config",
                       str(stack.trust_config), "--identity-token", token, "--rekor-version", "2")  # fmt: skip
    _refused(refused, "no usable Rekor log (--rekor-version 2)")
    assert not nothing.exists()


# -- 3 -----------------------------------------------------------------------------------------


def test_sigstore_python_gets_a_timestamp_with_the_default_config(stack: Stack, tmp_path) -> None:
    artifact, bundle = _artifact(tmp_path, "sigstore-python, Rekor v1\n"), tmp_path / "v1.json"
    _py_sign(stack, stack.trust_config, artifact, bundle)
    entry = _entry(bundle)
    assert entry["kindVersion"] == {"kind": "hashedrekord", "version": "0.0.1"}
    assert entry["logId"]["keyId"] == _log_id(stack, stack.urls["rekor"])
    assert entry["inclusionPromise"]["signedEntryTimestamp"] and len(_stamps(bundle)) == 1
    _ok(_py_verify(stack, stack.trust_config, bundle, artifact))
    ours = _ok(_our_verify(stack, bundle, artifact, "--trust-config", str(stack.trust_config)))
    assert "1 signed timestamp(s) verified against a trusted TSA" in ours
    assert "inclusion promise (SET)" in ours


# -- 4 -----------------------------------------------------------------------------------------


def test_sigstore_js_attest_with_our_tsa_verified_by_both(stack: Stack, tmp_path) -> None:
    _needs_npm("@sigstore/cli")
    artifact = _artifact(tmp_path, "attested by sigstore-js\n")
    digest = run(["sha256sum", str(artifact)]).stdout.split()[0]
    statement = tmp_path / "statement.json"
    statement.write_text(json.dumps({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "artifact.txt", "digest": {"sha256": digest}}],
        "predicateType": "https://example.com/interop/v1", "predicate": {"by": "sigstore-js"},
    }))  # fmt: skip
    bundle = tmp_path / "js.json"
    # CI set: the CLI takes the token from SIGSTORE_ID_TOKEN instead of a browser sign-in
    attested = run([str(NPM_SIGSTORE), "attest", str(statement),
                    "--fulcio-url", stack.urls["fulcio"], "--rekor-url", stack.urls["rekor"],
                    "--tsa-server-url", stack.urls["tsa"], "--output-file", str(bundle)],
                   env={"CI": "true", "SIGSTORE_ID_TOKEN": stack.token()})  # fmt: skip
    _ok(attested)
    entry = _entry(bundle)
    assert entry["kindVersion"] == {"kind": "intoto", "version": "0.0.2"}
    assert len(_stamps(bundle)) == 1
    trusted_root = str(stack.data / "trusted_root.json")
    ours = _ok(sigstack("verify-bundle", "--bundle", str(bundle), "--certificate-identity",
                        stack.identity, "--certificate-oidc-issuer", stack.urls["oidc"],
                        "--trusted-root", trusted_root, str(artifact)))  # fmt: skip
    assert "1 signed timestamp(s) verified against a trusted TSA" in ours
    assert "subject of the in-toto statement" in ours
    cache = tmp_path / "js-cache"
    assert "Verification succeeded" in _ok(_js_verify(stack, bundle, cache))
    _refused(_js_verify(stack, bundle, cache, identity="nobody@example.com"))
    _refused(sigstack("verify-bundle", "--bundle", str(bundle), "--certificate-identity",
                      "nobody@example.com", "--certificate-oidc-issuer", stack.urls["oidc"],
                      "--trusted-root", trusted_root, str(artifact)), "identity")  # fmt: skip


# -- 5 -----------------------------------------------------------------------------------------


def test_sigstore_js_verifies_v2_only_bundles_with_trust_from_our_tuf(
    stack: Stack, py_v2, tmp_path
) -> None:
    _needs_npm("@sigstore/cli")
    artifact, bundle = py_v2
    cache = tmp_path / "js-cache"
    assert "Verification succeeded" in _ok(_js_verify(stack, bundle, cache, artifact))
    ours = tmp_path / "ours.json"
    _ok(sigstack("sign-blob", str(artifact), "--bundle", str(ours), "--trust-config",
                 str(stack.trust_config_v2), "--identity-token", stack.token()))  # fmt: skip
    assert _entry(ours)["kindVersion"] == V2
    assert "Verification succeeded" in _ok(_js_verify(stack, ours, cache, artifact))
    tampered = tmp_path / "tampered.txt"
    tampered.write_text("not what was signed\n")
    _refused(_js_verify(stack, bundle, cache, tampered))


def test_our_tuf_publishes_both_signing_configs(stack: Stack, tmp_path) -> None:
    """What sigstore-python's and cosign's TUF clients fetch, through python-tuf's updater."""
    from tuf.ngclient import Updater

    metadata, targets = tmp_path / "metadata", tmp_path / "targets"
    metadata.mkdir()
    targets.mkdir()
    updater = Updater(str(metadata), stack.urls["tuf"], str(targets), stack.urls["tuf"] + "/targets/",
                      bootstrap=(stack.data / "tuf" / "root.json").read_bytes())  # fmt: skip
    updater.refresh()
    for target, local in (("trusted_root.json", "trusted_root.json"),
                          ("signing_config.v0.2.json", "signing_config.json"),
                          ("signing_config_rekor_v2.v0.2.json", "signing_config_rekor_v2.json")):  # fmt: skip
        info = updater.get_targetinfo(target)
        assert info is not None, target
        path = updater.download_target(info, str(targets / target))
        assert json.loads(Path(path).read_text()) == json.loads((stack.data / local).read_text())
    v2 = json.loads((stack.data / "signing_config_rekor_v2.json").read_text())
    assert [(s["url"], s["majorApiVersion"]) for s in v2["rekorTlogUrls"]] == [
        (stack.urls["rekor2"], 2), (stack.urls["rekor"], 1)]  # fmt: skip
    assert [s["url"] for s in v2["tsaUrls"]] == [stack.urls["tsa"] + "/api/v1/timestamp"]
    stack_json = json.loads((stack.data / "stack.json").read_text())
    assert {"tsa", "rekor2"} <= set(stack_json)


# -- 6 -----------------------------------------------------------------------------------------


def _with_stamp(source: Path, out: Path, stamp: bytes) -> Path:
    doc = json.loads(source.read_text())
    doc["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"] = [
        {"signedTimestamp": base64.b64encode(stamp).decode()}
    ]
    out.write_text(json.dumps(doc))
    return out


def _gen_time(stamp: bytes) -> datetime:
    from rfc3161_client import decode_timestamp_response

    when = decode_timestamp_response(stamp).tst_info.gen_time
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _config_with_tsa_end(stack: Stack, end: datetime, out: Path) -> Path:
    config = json.loads(stack.trust_config_v2.read_text())
    for tsa in config["trustedRoot"]["timestampAuthorities"]:
        tsa["validFor"]["end"] = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.write_text(json.dumps(config))
    return out


def test_wrong_identity_and_bad_timestamps_are_refused_by_both(
    stack: Stack, py_v2, tmp_path
) -> None:
    artifact, bundle = py_v2
    v2 = stack.trust_config_v2

    def both_refuse(
        candidate: Path, config: Path, reason: str, identity: str | None = None
    ) -> None:
        _refused(_our_verify(stack, candidate, artifact, "--trust-config", str(config),
                             identity=identity), reason)  # fmt: skip
        _refused(_py_verify(stack, config, candidate, artifact, identity=identity), reason)

    # a wrong identity
    both_refuse(bundle, v2, "someone@else.example", identity="someone@else.example")

    # the TSA's window in the trusted root closed a minute before the timestamp was made
    stamp = base64.b64decode(_stamps(bundle)[0]["signedTimestamp"])
    closed = _config_with_tsa_end(stack, _gen_time(stamp) - timedelta(minutes=1),
                                  tmp_path / "tsa-window.json")  # fmt: skip
    no_time = "not enough sources of verified time"  # both verifiers' words
    both_refuse(bundle, closed, no_time)
    # ... and it still verifies when the window closes after the timestamp
    still = _config_with_tsa_end(stack, _gen_time(stamp) + timedelta(minutes=1),
                                 tmp_path / "tsa-open.json")  # fmt: skip
    _ok(_our_verify(stack, bundle, artifact, "--trust-config", str(still)))
    _ok(_py_verify(stack, still, bundle, artifact))

    # a tampered timestamp: the last byte of the TSA's signature changed
    flipped = stamp[:-1] + bytes([stamp[-1] ^ 0x01])
    both_refuse(_with_stamp(bundle, tmp_path / "tampered.json", flipped), v2, no_time)

    # a genuine timestamp from our TSA, but over another signature (the imprint does not match)
    other_artifact = tmp_path / "other.txt"
    other_artifact.write_text("another signature\n")
    other = tmp_path / "other.json"
    _ok(sigstack("sign-blob", str(other_artifact), "--bundle", str(other), "--trust-config",
                 str(v2), "--identity-token", stack.token()))  # fmt: skip
    foreign = base64.b64decode(_stamps(other)[0]["signedTimestamp"])
    both_refuse(_with_stamp(bundle, tmp_path / "foreign.json", foreign), v2, no_time)


# -- 7 -----------------------------------------------------------------------------------------


def test_sigstore_js_library_signs_to_our_v2_log(stack: Stack, tmp_path) -> None:
    _needs_npm("@sigstore/sign", "@sigstore/bundle", "@sigstore/protobuf-specs")
    artifact, bundle = _artifact(tmp_path, "signed by @sigstore/sign\n"), tmp_path / "js.json"
    signed = run(["node", str(JS_SIGNER), str(stack.data / "signing_config_rekor_v2.json"),
                  str(artifact), str(bundle)],
                 env={"NODE_PATH": str(NODE_MODULES), "SIGSTORE_ID_TOKEN": stack.token()})  # fmt: skip
    assert "logged hashedrekord 0.0.2" in _ok(signed)
    entry = _entry(bundle)
    assert entry["kindVersion"] == V2
    assert entry["logId"]["keyId"] == _log_id(stack, stack.urls["rekor2"])
    assert len(_stamps(bundle)) == 1
    ours = _ok(sigstack("verify-bundle", "--bundle", str(bundle), "--certificate-identity",
                        stack.identity, "--certificate-oidc-issuer", stack.urls["oidc"],
                        "--trusted-root", str(stack.data / "trusted_root.json"), str(artifact)))  # fmt: skip
    assert "1 signed timestamp(s) verified against a trusted TSA" in ours
    _ok(_py_verify(stack, stack.trust_config_v2, bundle, artifact))


def test_the_new_services_answer_health_with_their_instance_ids(stack: Stack) -> None:
    for name in ("tsa", "rekor2"):
        with urllib.request.urlopen(stack.urls[name] + "/healthz") as r:  # noqa: S310
            answer = json.loads(r.read())
        assert answer["service"] == name and answer["instance"].startswith("up-")

"""A key rotation published through TUF: signatures made before and after both keep verifying.

The operator rotates the Fulcio CA of a ``sigstack up`` stack (``sigstack ca create`` into the data
directory, the old CA kept aside) and starts the stack again: ``up`` closes the old CA's validity
window, adds the new CA and publishes the new trusted root through the TUF repository. A client
that initialised from the TUF root before the rotation refreshes and verifies both bundles.
"""

from __future__ import annotations

import json

import pytest

from tests.interop.conftest import Stack, sigstack

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("stack")]


def _sign(stack: Stack, path, env):
    bundle = path.with_suffix(".sigstore.json")
    done = sigstack("sign-blob", str(path), "--bundle", str(bundle), "--identity-token",
                    stack.token(), env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return bundle


def _verify(stack: Stack, path, bundle, env):
    return sigstack("verify-blob", str(path), "--bundle", str(bundle), "--certificate-identity",
                    stack.identity, "--certificate-oidc-issuer", stack.urls["oidc"], env=env)  # fmt: skip


def test_ca_rotation_through_tuf_keeps_old_and_new_signatures_valid(tmp_path) -> None:
    data = tmp_path / "data"
    env = {"TUF_ROOT": str(tmp_path / "tuf-cache")}
    stack = Stack(data, tmp_path / "up.out").start()
    try:
        init = sigstack("initialize", "--mirror", stack.urls["tuf"], "--root",
                        str(data / "tuf" / "root.json"), env=env)  # fmt: skip
        assert init.returncode == 0, init.stderr
        before = tmp_path / "before.txt"
        before.write_text("signed under the first CA\n")
        old_bundle = _sign(stack, before, env)
        assert _verify(stack, before, old_bundle, env).returncode == 0
    finally:
        assert stack.stop() == 0
    old_chain = (data / "fulcio" / "ca" / "chain.pem").read_bytes()
    (data / "fulcio" / "ca").rename(data / "fulcio" / "ca-retired")
    created = sigstack("ca", "create", "--out-dir", str(data / "fulcio" / "ca"), "--algorithm",
                       "ecdsa-p256", "--common-name", "sigstack rotated")  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert (data / "fulcio" / "ca" / "chain.pem").read_bytes() != old_chain
    stack = Stack(data, tmp_path / "up2.out").start(port_base=stack.port_base)
    try:
        root = json.loads((data / "trusted_root.json").read_text())
        cas = root["certificateAuthorities"]
        assert len(cas) == 2 and "end" in cas[0]["validFor"] and "end" not in cas[1]["validFor"]
        after = tmp_path / "after.txt"
        after.write_text("signed under the rotated CA\n")
        new_bundle = _sign(stack, after, env)
        for path, bundle in ((before, old_bundle), (after, new_bundle)):
            verified = _verify(stack, path, bundle, env)
            assert verified.returncode == 0, verified.stderr
    finally:
        assert stack.stop() == 0

"""The Rekor v1 log's CA-only switch (``trusted_ca_file``; docs/rekor.md "Accepting only your CA's
certificates"): with it, hashedrekord, dsse and intoto entries are logged only when their
certificates chain to the configured CA; every other entry gets a 400 with a stable message and
the log does not grow. Real Fulcio CAs (``sigstack ca create`` and Fulcio's issuing code), a real
SQLite log, Flask's test client.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import create_file_key
from sigstack.services.rekor.app import create_app
from sigstack.services.rekor.config import RekorConfig
from sigstack.services.rekor.trustedca import NO_CERTIFICATE, NOT_ISSUED
from sigstack.services.runtime import db
from tests.support import cas
from tests.support.cas import FulcioCA, issued_by_key, pem, unlimited_root
from tests.support.entries import dsse, hashedrekord, intoto, statement
from tests.support.keys import self_signed_cert

ENTRIES = "/api/v1/log/entries"


ours, foreign = cas.ours, cas.foreign  # the two CAs, module-scoped fixtures


def make_app(tmp: Path, trusted: Path | None) -> Flask:
    tmp.mkdir(exist_ok=True)
    url = db.sqlite_url(tmp / "rekor.db")
    db.upgrade(url)
    create_file_key(tmp / "key.pem")
    config = {"database_url": url, "key_uri": f"file:{tmp / 'key.pem'}", "hostname": "rekor.test",
              "create": True, "batch_wait_ms": 0, "trusted_ca_file": trusted and str(trusted)}  # fmt: skip
    return create_app(RekorConfig.from_mapping(config))


def post(app: Flask, entry: dict[str, Any]) -> Any:
    rekor = app.extensions["rekor"]
    before = rekor.size()
    resp = app.test_client().post(ENTRIES, data=json.dumps(entry), content_type="application/json")
    if resp.status_code != 201:
        assert rekor.size() == before  # nothing written
    return resp


def refused(resp: Any, message: str) -> None:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json() == {"code": 400, "message": message}


def signed(ca: FulcioCA, *chain: Any) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A new key and the PEM of its certificate from ``ca`` followed by ``chain``."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key, pem(ca.leaf(key), *chain)


def payload() -> bytes:
    return statement(hashlib.sha256(ec.generate_private_key(ec.SECP256R1()).public_key()
                                    .public_numbers().x.to_bytes(32, "big")).hexdigest())  # fmt: skip


@pytest.fixture()
def only_ours(tmp_path: Path, ours: FulcioCA) -> Flask:
    return make_app(tmp_path, ours.chain_file)


def test_entries_from_our_ca_are_logged(only_ours: Flask, ours: FulcioCA) -> None:
    key, cert = signed(ours)
    assert post(only_ours, hashedrekord(b"one", key, cert)).status_code == 201
    key, cert = signed(ours, ours.intermediate, ours.root)  # with the chain: the same
    assert post(only_ours, hashedrekord(b"two", key, cert)).status_code == 201
    key, cert = signed(ours)
    assert post(only_ours, dsse(payload(), key, verifiers=[cert])).status_code == 201
    key, cert = signed(ours)
    assert post(only_ours, intoto(payload(), key, cert)).status_code == 201
    assert only_ours.extensions["rekor"].size() == 4


def test_entries_from_another_ca_are_refused(only_ours: Flask, foreign: FulcioCA) -> None:
    key, cert = signed(foreign)
    refused(post(only_ours, hashedrekord(b"x", key, cert)), NOT_ISSUED)
    key, cert = signed(foreign, foreign.intermediate, foreign.root)
    refused(post(only_ours, hashedrekord(b"x", key, cert)), NOT_ISSUED)
    key, cert = signed(foreign)
    refused(post(only_ours, dsse(payload(), key, verifiers=[cert])), NOT_ISSUED)
    key, cert = signed(foreign)
    refused(post(only_ours, intoto(payload(), key, cert)), NOT_ISSUED)
    key = ec.generate_private_key(ec.SECP256R1())  # self-signed
    refused(post(only_ours, hashedrekord(b"x", key, self_signed_cert(key, "a@b.c"))), NOT_ISSUED)
    assert only_ours.extensions["rekor"].size() == 0


def test_bare_public_keys_are_refused(only_ours: Flask) -> None:
    refused(post(only_ours, hashedrekord(b"x")), NO_CERTIFICATE)
    refused(post(only_ours, dsse(payload())), NO_CERTIFICATE)
    refused(post(only_ours, intoto(payload())), NO_CERTIFICATE)
    assert only_ours.extensions["rekor"].size() == 0


def test_every_dsse_verifier_must_be_ours(
    only_ours: Flask, ours: FulcioCA, foreign: FulcioCA
) -> None:
    """A foreign certificate next to ours would put its identities in the search index."""
    key, cert = signed(ours)
    _, stranger = signed(foreign)
    bare = self_signed_cert(ec.generate_private_key(ec.SECP256R1()), "x@y.z")
    refused(post(only_ours, dsse(payload(), key, verifiers=[cert, stranger])), NOT_ISSUED)
    refused(post(only_ours, dsse(payload(), key, verifiers=[stranger, cert])), NOT_ISSUED)
    refused(post(only_ours, dsse(payload(), key, verifiers=[cert, bare])), NOT_ISSUED)


def test_a_foreign_entry_already_logged_is_refused_not_found_again(
    tmp_path: Path, ours: FulcioCA, foreign: FulcioCA
) -> None:
    """An entry logged before the switch was turned on gets the 400, not a 409 naming it."""
    key, cert = signed(foreign)
    entry = hashedrekord(b"before", key, cert)
    open_app = make_app(tmp_path, None)
    assert post(open_app, entry).status_code == 201
    open_app.extensions["rekor"].close()
    closed = create_app(RekorConfig.from_mapping({
        "database_url": db.sqlite_url(tmp_path / "rekor.db"), "hostname": "rekor.test",
        "key_uri": f"file:{tmp_path / 'key.pem'}", "batch_wait_ms": 0,
        "trusted_ca_file": str(ours.chain_file)}))  # fmt: skip
    refused(post(closed, entry), NOT_ISSUED)


def test_the_switch_off_accepts_any_entry_that_verifies(tmp_path: Path, foreign: FulcioCA) -> None:
    app = make_app(tmp_path, None)
    key, cert = signed(foreign)
    assert post(app, hashedrekord(b"x", key, cert)).status_code == 201
    assert post(app, hashedrekord(b"y")).status_code == 201
    assert post(app, dsse(payload())).status_code == 201
    assert post(app, intoto(payload())).status_code == 201
    assert app.extensions["rekor"].size() == 4


def test_root_only_file_needs_the_intermediate_in_the_entry(tmp_path: Path, ours: FulcioCA) -> None:
    app = make_app(tmp_path, ours.root_file)
    key, cert = signed(ours)
    refused(post(app, hashedrekord(b"x", key, cert)), NOT_ISSUED)
    key, cert = signed(ours, ours.intermediate)
    assert post(app, hashedrekord(b"x", key, cert)).status_code == 201


def test_certificates_minted_below_ours_do_not_count(tmp_path: Path, ours: FulcioCA) -> None:
    """Holding one of our signing certificates' keys, or a CA below a CA whose path length
    forbids one, gives no way in: the entry's intermediates must be CAs their issuers allow."""
    app = make_app(tmp_path, ours.root_file)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    our_leaf = ours.leaf(leaf_key)
    key = ec.generate_private_key(ec.SECP256R1())
    minted = issued_by_key(our_leaf, leaf_key, key, ca=False)  # "issued" by a signing cert
    refused(post(app, hashedrekord(b"x", key, pem(minted, our_leaf, ours.intermediate))),
            NOT_ISSUED)  # fmt: skip
    # a CA under the intermediate (path length 0): Fulcio never issues one; were it issued, the
    # intermediate's constraint forbids it
    sub_key = ec.generate_private_key(ec.SECP256R1())
    sub_ca = issued_by_key(ours.intermediate, ours.authority.signer.private_key, sub_key, ca=True)
    leaf = issued_by_key(sub_ca, sub_key, key, ca=False)
    refused(post(app, hashedrekord(b"y", key, pem(leaf, sub_ca, ours.intermediate))), NOT_ISSUED)
    trusting_intermediate = make_app(tmp_path / "i", ours.chain_file)
    refused(post(trusting_intermediate, hashedrekord(b"y", key, pem(leaf, sub_ca))), NOT_ISSUED)
    assert app.extensions["rekor"].size() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read trusted_ca_file"),
        (b"not a certificate", "holds no readable PEM certificate"),
        ("leaf", "certificate 1 is not a CA certificate"),
    ],
)
def test_a_bad_trusted_ca_file_stops_the_start(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "ca.pem"
    if content == "leaf":
        content = self_signed_cert(ec.generate_private_key(ec.SECP256R1()), "a@b.c")
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        make_app(tmp_path / "log", path)


def test_intermediates_in_the_entry_must_be_cas(tmp_path: Path) -> None:
    """Under a CA with no path length constraint, a CA it issued may issue in turn, a signing
    certificate it issued may not."""
    root, root_key = unlimited_root()
    (tmp_path / "root.pem").write_bytes(pem(root))
    app = make_app(tmp_path / "log", tmp_path / "root.pem")
    key = ec.generate_private_key(ec.SECP256R1())
    sub_key, leaf_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    sub_ca = issued_by_key(root, root_key, sub_key, ca=True)
    sub_leaf = issued_by_key(sub_ca, sub_key, key, ca=False)
    assert post(app, hashedrekord(b"x", key, pem(sub_leaf, sub_ca))).status_code == 201
    their_leaf = issued_by_key(root, root_key, leaf_key, ca=False)
    minted = issued_by_key(their_leaf, leaf_key, key, ca=False)
    refused(post(app, hashedrekord(b"y", key, pem(minted, their_leaf))), NOT_ISSUED)
    assert app.extensions["rekor"].size() == 1

"""The Rekor v2 log's CA-only switch (``trusted_ca_file``; docs/rekor.md "Accepting only your CA's
certificates"): hashedrekord requests, over an artifact's digest or over a DSSE envelope's PAE,
are logged only when their certificate was issued by the configured CA; the others get a 400
(grpc-gateway code 3) with a stable message and nothing is written. Real Fulcio CAs, a real
SQLite log, Flask's test client.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from flask import Flask

from sigstack.protocol.bundle import pae
from sigstack.protocol.errors import ConfigError
from sigstack.services.rekor.trustedca import NO_CERTIFICATE, NOT_ISSUED
from tests.support import cas
from tests.support.cas import FulcioCA, der
from tests.support.entries import INTOTO, statement, v2_request
from tests.support.keys import der_public
from tests.unit.rekor2.test_api import _written

ENTRIES = "/api/v2/log/entries"


ours, foreign = cas.ours, cas.foreign  # the two CAs, module-scoped fixtures


def request(ca: FulcioCA | None, artifact: bytes, *, envelope: bool = False) -> dict[str, Any]:
    """A hashedrekord 0.0.2 request over SHA-256(artifact), or (``envelope``) over the PAE of a
    DSSE envelope holding it, verified by a certificate of ``ca`` or (None) a bare public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    if envelope:
        message = pae(INTOTO, statement(hashlib.sha256(artifact).hexdigest()))
        digest = hashlib.sha256(message).digest()
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    else:
        digest = hashlib.sha256(artifact).digest()
        signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    if ca is None:
        return v2_request(digest, signature, der_public(key), certificate=False)
    return v2_request(digest, signature, der(ca.leaf(key)))


def post(app: Flask, body: dict[str, Any]) -> Any:
    before = _written(app.extensions["rekor2"])
    resp = app.test_client().post(ENTRIES, data=json.dumps(body), content_type="application/json")
    if resp.status_code != 201:
        assert _written(app.extensions["rekor2"]) == before  # nothing written
    return resp


def refused(resp: Any, message: str) -> None:
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json() == {"code": 3, "message": message, "details": []}


@pytest.fixture()
def only_ours(make_app: Any, ours: FulcioCA) -> Flask:
    app: Flask = make_app(trusted_ca_file=str(ours.chain_file))
    return app


@pytest.mark.parametrize("envelope", [False, True], ids=["hashedrekord", "dsse"])
def test_our_certificates_are_logged_others_refused(
    only_ours: Flask, ours: FulcioCA, foreign: FulcioCA, envelope: bool
) -> None:
    assert post(only_ours, request(ours, b"one", envelope=envelope)).status_code == 201
    refused(post(only_ours, request(foreign, b"two", envelope=envelope)), NOT_ISSUED)
    refused(post(only_ours, request(None, b"three", envelope=envelope)), NO_CERTIFICATE)
    assert _written(only_ours.extensions["rekor2"])[0] == 1


def test_a_root_only_file_refuses_leaves_of_its_intermediate(make_app: Any, ours: FulcioCA) -> None:
    """A v2 entry carries one certificate, never its chain: the file must hold the CA that issues
    the signing certificates (Fulcio's chain file does)."""
    app = make_app(trusted_ca_file=str(ours.root_file))
    refused(post(app, request(ours, b"x")), NOT_ISSUED)


@pytest.mark.parametrize("envelope", [False, True], ids=["hashedrekord", "dsse"])
def test_the_switch_off_accepts_any_entry_that_verifies(
    make_app: Any, foreign: FulcioCA, envelope: bool
) -> None:
    app = make_app()
    assert post(app, request(foreign, b"x", envelope=envelope)).status_code == 201
    assert post(app, request(None, b"y", envelope=envelope)).status_code == 201
    assert _written(app.extensions["rekor2"])[0] == 2


def test_a_bad_trusted_ca_file_stops_the_start(make_app: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read trusted_ca_file"):
        make_app(trusted_ca_file=str(tmp_path / "missing.pem"))

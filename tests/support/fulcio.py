"""Fulcio requests and checks of what it issues, with the parts a Fulcio under test talks to.

The v2 request bodies (CSR, or public key and proof of possession), ``check_leaf`` (the issued
certificate against Fulcio's certificate profile and its embedded SCT), ``refused`` (Fulcio's
gRPC-style error answer), ``identity_config`` (one issuer of each type on a test OIDC provider,
``tests.support.oidc``) and ``make_ctlog`` (a real CT log on SQLite served over HTTP).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.protocol import sct as ctsct
from sigstack.protocol import x509ext
from tests.support.keys import b64, pem_public
from tests.support.servers import Served, serve_wsgi


def identity_config(base: str, corp_client_id: str = "sigstore") -> dict[str, Any]:
    """Fulcio's identity configuration: an issuer of each type under ``base`` (email, an email
    issuer whose issuer claim is ``federated.connector`` at ``/corp``, uri, username, kubernetes,
    spiffe, GitHub and GitLab CI) and a meta issuer."""
    return {
        "OIDCIssuers": {
            base: {"IssuerURL": base, "ClientID": "sigstore", "Type": "email"},
            base + "/corp": {"Type": "email", "ClientID": corp_client_id,
                             "SkipEmailVerification": True, "IssuerClaim": "$.federated.connector"},
            base + "/uri": {"Type": "uri", "SubjectDomain": "https://build.example.com"},
            base + "/username": {"Type": "username", "SubjectDomain": "example.com"},
            base + "/k8s": {"Type": "kubernetes"},
            base + "/spiffe": {"Type": "spiffe", "SPIFFETrustDomain": "example.org"},
            base + "/github": {"Type": "ci-provider", "CIProvider": "github-workflow"},
            base + "/gitlab": {"Type": "ci-provider", "CIProvider": "gitlab-pipeline"},
        },
        "MetaIssuers": {base + "/meta/*": {"Type": "email"}},
    }  # fmt: skip


def v2_csr_body(csr: bytes, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"certificateSigningRequest": b64(csr)}
    if token is not None:
        body["credentials"] = {"oidcIdentityToken": token}
    return body


def v2_key_body(key: Any, proof: bytes, token: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pem_public(key).decode()},
            "proofOfPossession": b64(proof),
        }
    }
    if token is not None:
        body["credentials"] = {"oidcIdentityToken": token}
    return body


def check_leaf(
    pem_chain: list[str], ca_chain: list[x509.Certificate], ct_key: Any, client_key: Any
) -> x509.Certificate:
    """Assert the section 3 profile and the section 6 SCT; return the leaf."""
    certs = [x509.load_pem_x509_certificate(p.encode()) for p in pem_chain]
    assert [c.fingerprint(hashes.SHA256()) for c in certs[1:]] == [
        c.fingerprint(hashes.SHA256()) for c in ca_chain
    ]
    leaf = certs[0]
    assert all(not p.endswith("\n") for p in pem_chain)
    assert len(leaf.subject.rdns) == 0
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(minutes=10)
    assert 0 < leaf.serial_number < 1 << 159
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    assert leaf.public_key().public_bytes(enc, pub) == client_key.public_key().public_bytes(
        enc, pub
    )
    exts = leaf.extensions
    ku = exts.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    eku = exts.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING] and not eku.critical
    san = exts.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and len(list(san.value)) == 1
    aki = exts.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca_chain[0].extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    oids = [e.oid.dotted_string for e in exts]
    assert oids[-1] == ctsct.OID_SCT_LIST.dotted_string
    with_basic = [e.oid for e in exts if e.oid == x509.oid.ExtensionOID.BASIC_CONSTRAINTS]
    assert not with_basic
    values = x509ext.decode_extensions(leaf)
    assert values["issuer_v1"] and values["issuer"] and values["token_subject"]
    # exactly one SCT, signed by the CT log over the precert entry (section 6.3)
    scts = ctsct.scts_from_certificate(leaf)
    assert len(scts) == 1
    issuer_spki = ca_chain[0].public_key().public_bytes(enc, pub)
    data = ctsct.precert_signed_data(
        scts[0].timestamp,
        hashlib.sha256(issuer_spki).digest(),
        leaf.tbs_precertificate_bytes,
        scts[0].extensions,
    )
    scts[0].verify(ct_key, data)
    assert scts[0].log_id == ctsct.log_id(ct_key)
    leaf.verify_directly_issued_by(ca_chain[0])
    return leaf


def san_value(leaf: x509.Certificate) -> Any:
    name = list(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)[0]
    if isinstance(name, x509.OtherName):
        return x509ext.decode_username_san(name)
    return name.value


def refused(resp: Any, message: str, status: int = 400, code: int = 3) -> None:
    """``resp`` is Fulcio's error answer: ``status`` and the gRPC-style body with ``message``."""
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.get_json() == {"code": code, "message": message, "details": []}


def make_ctlog(tmp: Path, roots_pem: bytes) -> tuple[Served, Any]:
    """A CT log on a fresh SQLite database under ``tmp``, served over HTTP; returns (server, CTLog)."""
    from sigstack.services.ctlog.app import create_app
    from sigstack.services.ctlog.config import CTLogConfig
    from sigstack.services.keys import create_file_key
    from sigstack.services.runtime import db

    tmp.mkdir(parents=True, exist_ok=True)
    url = db.sqlite_url(tmp / "ctlog.db")
    db.upgrade(url)
    create_file_key(tmp / "ctlog-key.pem")
    (tmp / "roots.pem").write_bytes(roots_pem)
    app = create_app(CTLogConfig(
        database_url=url, key_uri=f"file:{tmp / 'ctlog-key.pem'}",
        roots_file=str(tmp / "roots.pem"), create=True, batch_wait_ms=1,
    ))  # fmt: skip
    return serve_wsgi(app), app.extensions["ctlog"]

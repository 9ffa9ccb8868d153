"""What the monitor tests build: a Fulcio-like CA issuing certificates with identities and Sigstore
extensions, entries of every kind signed with them (or with bare keys) and written to real logs
over HTTP, a trusted root naming the logs, the monitor run as ``sigstack monitor`` in a child
process, and a webhook receiver on 127.0.0.1.

Everything is real: ``sigstack serve rekor|rekor2|ctlog`` processes (``tests.support.servers``),
certificates signed by a CA made with ``sigstack ca create``'s code, entries the logs verify.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sigstack.protocol import merkle, note
from sigstack.protocol.bundle import pae
from sigstack.protocol.trust import (
    TRUSTED_ROOT_V01,
    PublicKey,
    TimeRange,
    TransparencyLogInstance,
    TrustedRoot,
)
from sigstack.services.fulcio.ca import CertificateAuthority
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.fulcio.identity import Principal
from sigstack.services.keys import load_signer
from tests.support.entries import INTOTO, hashedrekord_entry, v2_request
from tests.support.keys import b64, der_public, pem_public
from tests.support.servers import Served, Service, serve_handler, sigstack_cli

ISSUER = "https://issuer.example"
PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER


def post_json(url: str, body: Any) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 (loopback)
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 (loopback)
        return str(resp.read().decode())


# ---- certificates --------------------------------------------------------------------------------


class Ca:
    """A CA as ``sigstack ca create`` makes it, issuing Fulcio-profile leaves."""

    def __init__(self, tmp: Path) -> None:
        paths = create_ca(tmp / "ca", algorithm="ecdsa-p256")
        chain = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
        self.ca = CertificateAuthority(load_signer(f"file:{paths['intermediate-key.pem']}"), chain)
        self.root_pem = paths["root.pem"]

    def leaf(
        self, san: x509.GeneralName, key: Any, issuer: str = ISSUER, precert: bool = False,
        **extensions: str,
    ) -> x509.Certificate:  # fmt: skip
        who = Principal("x", san, {"issuer": issuer, **extensions})
        builder = self.ca.leaf_builder(who, key.public_key())
        return self.ca.precertificate(builder) if precert else self.ca.plain(builder)


def email(value: str) -> x509.GeneralName:
    return x509.RFC822Name(value)


def uri(value: str) -> x509.GeneralName:
    return x509.UniformResourceIdentifier(value)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def fingerprint(key: ec.EllipticCurvePrivateKey) -> str:
    return hashlib.sha256(der_public(key)).hexdigest()


# ---- entries -------------------------------------------------------------------------------------


def _prehashed(key: ec.EllipticCurvePrivateKey, digest: bytes) -> bytes:
    return key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def v1_hashedrekord(artifact: bytes, key: Any, cert: x509.Certificate | None) -> dict[str, Any]:
    digest = hashlib.sha256(artifact).digest()
    verifier = cert.public_bytes(PEM) if cert is not None else pem_public(key)
    return hashedrekord_entry(digest, _prehashed(key, digest), verifier)


def v1_dsse(payload: bytes, key: Any, cert: x509.Certificate) -> dict[str, Any]:
    sig = key.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
    envelope = json.dumps({"payload": b64(payload), "payloadType": INTOTO,
                           "signatures": [{"sig": b64(sig)}]})  # fmt: skip
    return {"apiVersion": "0.0.1", "kind": "dsse", "spec": {"proposedContent": {
        "envelope": envelope, "verifiers": [b64(cert.public_bytes(PEM))]}}}  # fmt: skip


def v1_intoto(payload: bytes, key: Any, cert: x509.Certificate) -> dict[str, Any]:
    sig = key.sign(pae(INTOTO, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {"payloadType": INTOTO, "payload": b64(b64(payload).encode()),
                "signatures": [{"sig": b64(b64(sig).encode()),
                                "publicKey": b64(cert.public_bytes(PEM))}]}  # fmt: skip
    whole = json.dumps(envelope).encode()
    return {"apiVersion": "0.0.2", "kind": "intoto", "spec": {"content": {
        "envelope": envelope,
        "hash": {"algorithm": "sha256", "value": hashlib.sha256(whole).hexdigest()}}}}  # fmt: skip


def v2_hashedrekord(artifact: bytes, key: Any, cert: x509.Certificate | None) -> dict[str, Any]:
    digest = hashlib.sha256(artifact).digest()
    verifier = cert.public_bytes(DER) if cert is not None else der_public(key)
    return v2_request(digest, _prehashed(key, digest), verifier, certificate=cert is not None)


@dataclass
class Written:
    """An entry a log took: where, and what the monitor must report for it."""

    log: str
    index: int
    uuid: str


def add_v1(srv: Service, entry: dict[str, Any]) -> Written:
    status, answer = post_json(f"{srv.url}/api/v1/log/entries", entry)
    assert status == 201, answer
    (value,) = answer.values()
    leaf = merkle.leaf_hash(base64.b64decode(value["body"]))
    return Written("", value["logIndex"], leaf.hex())


def add_v2(srv: Service, request: dict[str, Any]) -> Written:
    status, answer = post_json(f"{srv.url}/api/v2/log/entries", request)
    assert status == 201, answer
    leaf = merkle.leaf_hash(base64.b64decode(answer["canonicalizedBody"]))
    return Written("", int(answer["logIndex"]), leaf.hex())


def add_ct(srv: Service, ca: Ca, cert: x509.Certificate, precert: bool) -> Written:
    index = get_json(f"{srv.url}/ct/v1/get-sth")["tree_size"]
    chain = [b64(c) for c in [cert.public_bytes(DER), *ca.ca.chain_der]]
    status, answer = post_json(f"{srv.url}/ct/v1/{'add-pre-chain' if precert else 'add-chain'}",
                               {"chain": chain})  # fmt: skip
    assert status == 200, answer
    got = get_json(f"{srv.url}/ct/v1/get-entries?start={index}&end={index}")["entries"][0]
    return Written("", index, merkle.leaf_hash(base64.b64decode(got["leaf_input"])).hex())


# ---- trust, configuration, the monitor -----------------------------------------------------------


def log_instance(url: str, der: bytes, details: str, log_id: bytes) -> TransparencyLogInstance:
    start = TimeRange(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    return TransparencyLogInstance(base_url=url, hash_algorithm="SHA2_256",
                                   public_key=PublicKey(der, details, start), log_id=log_id)  # fmt: skip


def v1_instance(srv: Service, data: Path) -> TransparencyLogInstance:
    der = load_signer(f"file:{data / 'rekor-key.pem'}").public_der
    return log_instance(srv.url, der, "PKIX_ECDSA_P256_SHA_256", hashlib.sha256(der).digest())


def v2_instance(srv: Service, data: Path, origin: str) -> TransparencyLogInstance:
    signer = load_signer(f"file:{data / 'rekor2-key.pem'}")
    return log_instance(srv.url, signer.public_der, "PKIX_ED25519",
                        note.note_key_digest(origin, signer.public_key))  # fmt: skip


def ct_instance(srv: Service, data: Path) -> TransparencyLogInstance:
    der = load_signer(f"file:{data / 'ctlog-key.pem'}").public_der
    return log_instance(srv.url, der, "PKIX_ECDSA_P256_SHA_256", hashlib.sha256(der).digest())


def write_trusted_root(path: Path, tlogs: list[TransparencyLogInstance],
                       ctlogs: list[TransparencyLogInstance]) -> Path:  # fmt: skip
    root = TrustedRoot(media_type=TRUSTED_ROOT_V01, tlogs=tuple(tlogs),
                       certificate_authorities=(), ctlogs=tuple(ctlogs))  # fmt: skip
    path.write_text(root.to_json())
    return path


def write_config(path: Path, **config: Any) -> Path:
    path.write_text(json.dumps(config, indent=1))
    return path


@dataclass
class Run:
    status: int
    alerts: list[dict[str, Any]]
    stderr: str


def monitor(config: Path, *args: str) -> Run:
    done = sigstack_cli("monitor", "--config", str(config), "--once", *args, timeout=300)
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return Run(done.returncode, alerts, done.stderr)


def found(run: Run, kind: str = "match") -> set[tuple[str, int, str]]:
    return {(a["log"], a["index"], a["uuid"]) for a in run.alerts if a["type"] == kind}


# ---- copies of a log's data (a restore from backup) ----------------------------------------------


def copy_log(data: Path, to: Path, name: str) -> None:
    """The key and an online SQLite backup of the database: what docs/backup.md keeps."""
    to.mkdir(mode=0o700)
    shutil.copy2(data / f"{name}-key.pem", to / f"{name}-key.pem")
    src, dst = sqlite3.connect(data / f"{name}.db"), sqlite3.connect(to / f"{name}.db")
    with dst:
        src.backup(dst)
    src.close()
    dst.close()


# ---- a webhook -----------------------------------------------------------------------------------


@dataclass
class Hook:
    served: Served
    bodies: list[Any] = field(default_factory=list)
    status: int = 204

    @property
    def url(self) -> str:
        return f"{self.served.url}/alerts"


def webhook() -> Hook:
    """A real HTTP server on 127.0.0.1 that keeps the JSON bodies POSTed to it."""
    lock = threading.Lock()
    hook: Hook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                hook.bodies.append((self.path, self.headers.get("Content-Type"), json.loads(body)))
            self.send_response(hook.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    hook = Hook(serve_handler(Handler))
    return hook

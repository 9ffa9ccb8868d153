"""Shared by the witness tests: a log made here (real keys, an RFC 6962 tree, signed checkpoints),
its log-list line, and a witness app on a real SQLite database made by Alembic."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from flask import Flask

from sigstack.protocol import merkle, note
from sigstack.services.keys import create_file_key
from sigstack.services.runtime import db
from sigstack.services.witness.app import create_app
from sigstack.services.witness.config import WitnessConfig

NAME = "witness.test/w1"


@dataclass
class TestLog:
    """A log: origin, key (Ed25519 or ECDSA P-256) and leaves; checkpoints signed as Rekor v2
    signs them (name = origin, key ID = the rekor-tiles key ID's first 4 bytes)."""

    __test__ = False
    origin: str
    key: Any = field(default_factory=ed25519.Ed25519PrivateKey.generate)
    leaves: list[bytes] = field(default_factory=list)

    def grow(self, count: int, tag: str = "") -> TestLog:
        start = len(self.leaves)
        self.leaves += [merkle.leaf_hash(f"{tag}{i}".encode()) for i in range(start, start + count)]
        return self

    def fork(self, at: int) -> TestLog:
        """Same origin and key, the first ``at`` leaves in common (grow it with another tag)."""
        return TestLog(self.origin, self.key, list(self.leaves[:at]))

    def root(self, size: int | None = None) -> bytes:
        return merkle.root_of(self.leaves[: len(self.leaves) if size is None else size])

    def subtree(self, start: int, end: int) -> bytes:
        return merkle.root_of(self.leaves[start:end])

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = len(self.leaves) if new is None else new
        return merkle.consistency_proof(old, new, self.subtree) if 0 < old < new else []

    @property
    def key_id(self) -> bytes:
        return note.note_key_digest(self.origin, self.key.public_key())[:4]

    def sign(self, message: bytes) -> bytes:
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            from cryptography.hazmat.primitives import hashes

            return self.key.sign(message, ec.ECDSA(hashes.SHA256()))
        return self.key.sign(message)  # type: ignore[no-any-return]

    def checkpoint(self, size: int | None = None, root: bytes | None = None) -> str:
        size = len(self.leaves) if size is None else size
        body = note.Checkpoint(self.origin, size, root or self.root(size))
        return note.sign_checkpoint(body, self.origin, self.key_id, self.sign)

    def vkey(self) -> str:
        """The log's C2SP vkey: type 0x01 (Ed25519) or 0x02 (ECDSA, DER SPKI)."""
        public = self.key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            blob = b"\x01" + raw
        else:
            blob = b"\x02" + public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        return f"{self.origin}+{self.key_id.hex()}+{base64.b64encode(blob).decode()}"


def body(old: int, proof: list[bytes], checkpoint: str) -> bytes:
    lines = [f"old {old}\n".encode()] + [base64.b64encode(h) + b"\n" for h in proof]
    return b"".join(lines) + b"\n" + checkpoint.encode()


def log_list(*logs: TestLog) -> str:
    return "logs/v0\n" + "".join(f"vkey {lg.vkey()}\n" for lg in logs)


def origin_hash(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()


def witness_app(
    tmp: Path,
    *logs: TestLog,
    name: str = NAME,
    key_path: Path | None = None,
    clock: Callable[[], float] | None = None,
    database_url: str | None = None,
    trusted_root: Path | None = None,
) -> Flask:
    """The witness's Flask app (``services.witness.app``) on a SQLite database upgraded by
    Alembic, with an Ed25519 file key made here (or ``key_path``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    url = database_url or db.sqlite_url(tmp / "witness.db")
    if database_url is None and not (tmp / "witness.db").exists():
        db.upgrade(url)
    if key_path is None:
        key_path = tmp / "witness-key.pem"
        if not key_path.exists():
            create_file_key(key_path, "ed25519")
    (tmp / "logs.txt").write_text(log_list(*logs))
    config = WitnessConfig(name=name, key_uri=f"file:{key_path}", database_url=url,
                           logs=[str(tmp / "logs.txt")],
                           trusted_root=None if trusted_root is None else str(trusted_root))  # fmt: skip
    app = create_app(config)
    if clock is not None:
        app.extensions["witness"]._clock = clock
    return app

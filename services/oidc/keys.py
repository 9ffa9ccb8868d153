"""Signing keys of the issuer: creation, rotation, the active signer and the published JWKS.

Private keys live behind ``services.keys`` URIs. The default is one PKCS#8 PEM file per key in
``DATA_DIR/keys/<kid>.pem``, written with mode 0600 by ``services.keys.create_file_key`` and refused
at load time if group or others can read it; the database (``oidc_keys``) holds only the kid, the
algorithm, the URI and the key's state. A relative ``file:`` URI is resolved against the data dir so
the directory can be moved.

Rotation (``rotate``): the next key is published and becomes the signing key at once; the
previous key is marked retired and stays in the JWKS until the latest ``exp`` of any token it
signed (``oidc_keys.last_exp``) has passed. ``last_exp`` is written ahead: a signature whose
``exp`` is past the value this process last wrote raises it to ``exp + LAST_EXP_AHEAD``, so the
stored value is never behind a token's expiry and a busy issuer writes it once per key every few
minutes instead of on every signature. A running issuer re-reads the key rows at most every
``KEYS_TTL`` seconds: a rotation is in use and published within that time. Verifiers that meet an
unknown kid refetch the JWKS (go-oidc does), so publishing and using the key together is safe;
``rotate(publish_only=True)`` (``rotate-key --prepare``) publishes the next key without using it,
for verifiers that cache longer.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import Signer, create_file_key, load_signer

from . import tokens
from .store import Store

JWKS_GRACE_SECONDS = 60  # extra time an old key stays published, for clock skew
LAST_EXP_AHEAD = 300  # seconds last_exp is written ahead of the token being signed
KEYS_TTL = 1.0  # seconds the key rows are cached by a running issuer


def _resolve(uri: str, data_dir: Path | None) -> str:
    if uri.startswith("file:") and data_dir is not None:
        path = Path(uri[5:].split("?")[0])
        if not path.is_absolute():
            query = uri.partition("?")[2]
            return "file:" + str(data_dir / path) + (f"?{query}" if query else "")
    return uri


def _check_file_mode(uri: str) -> None:
    if uri.startswith("file:"):
        path = Path(uri[5:].split("?")[0])
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            raise ConfigError(f"signing key {path} is missing ({exc.strerror})") from exc
        if mode & 0o077:
            raise ConfigError(f"signing key {path} is readable by other users: chmod 600 it")


def create_key(store: Store, data_dir: Path, alg: str, state: str) -> str:
    """Generate a key file in ``data_dir/keys`` (0600) and record it in the database; -> kid."""
    if alg not in tokens.ALGORITHMS:
        raise ConfigError(f"signing algorithm must be one of {', '.join(tokens.ALGORITHMS)}")
    keys_dir = data_dir / "keys"
    keys_dir.mkdir(mode=0o700, exist_ok=True)
    tmp = keys_dir / f".new-{secrets.token_hex(8)}.pem"
    create_file_key(tmp, tokens.ALGORITHMS[alg])
    try:
        signer = load_signer(f"file:{tmp}")
        kid = tokens.public_jwk(signer.public_key, alg)["kid"]
        final = keys_dir / f"{kid}.pem"
        if final.exists():
            raise ConfigError(f"key file {final} exists already")
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    store.add_key(kid, alg, f"file:keys/{kid}.pem", state)
    return kid


def rotate(store: Store, data_dir: Path, alg: str, *, publish_only: bool = False) -> str:
    """Publish the next key and (unless ``publish_only``) start signing with it; returns its kid."""
    pending = [row for row in store.key_rows() if row["state"] == "next"]
    if pending and not publish_only:
        kid = str(pending[-1]["kid"])
    elif pending:
        return str(pending[-1]["kid"])
    else:
        kid = create_key(store, data_dir, alg, "next")
    if not publish_only:
        store.promote_key(kid)
    return kid


class KeyRing:
    """The keys a running issuer signs and verifies with, read from the database at most every
    ``KEYS_TTL`` seconds (a rotation by the CLI or another worker is seen within that time);
    signers are cached per kid."""

    def __init__(
        self, store: Store, data_dir: Path | None, environ: dict[str, str] | None = None
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self.environ = environ
        self._signers: dict[str, Signer] = {}
        self._lock = threading.Lock()
        # Shared by every thread of the worker; holds no request state. The cached rows and the
        # time they expire are one tuple, replaced whole, so a reader never pairs old and new.
        self._cache: tuple[list[Mapping[str, Any]], float] = ([], 0.0)
        self._noted: dict[str, int] = {}  # kid -> last_exp this process has written

    def _key_rows(self) -> list[Mapping[str, Any]]:
        now = time.monotonic()
        rows, until = self._cache
        if now >= until:
            rows = self.store.key_rows()
            self._cache = (rows, now + KEYS_TTL)
        return rows

    def forget(self) -> None:
        """Drop the cached key rows (the next use reads the database)."""
        self._cache = ([], 0.0)

    def _signer(self, row: Mapping[str, Any]) -> Signer:
        kid = str(row["kid"])
        with self._lock:
            signer = self._signers.get(kid)
            if signer is None:
                uri = _resolve(str(row["key_uri"]), self.data_dir)
                _check_file_mode(uri)
                signer = load_signer(uri, self.environ)
                if tokens.public_jwk(signer.public_key, row["alg"])["kid"] != kid:
                    raise ConfigError(f"signing key behind {uri.split('?')[0]} is not key {kid}")
                self._signers[kid] = signer
        return signer

    def published(self) -> list[Mapping[str, Any]]:
        """Key rows in the JWKS: next, active, and retired ones some live token may still use."""
        now = self.store.now()
        rows = []
        for row in self._key_rows():
            if row["state"] in ("next", "active"):
                rows.append(row)
            elif row["last_exp"] is not None and row["last_exp"] + JWKS_GRACE_SECONDS > now:
                rows.append(row)
        return rows

    def active(self) -> tuple[str, str, Signer]:
        rows = [row for row in self._key_rows() if row["state"] == "active"]
        if len(rows) != 1:
            raise ConfigError(f"expected exactly one active signing key, found {len(rows)}")
        return str(rows[0]["kid"]), str(rows[0]["alg"]), self._signer(rows[0])

    def check(self) -> None:
        """Open every published key now (startup check): missing or unsafe key files refuse."""
        self.active()
        for row in self.published():
            self._signer(row)

    @property
    def alg(self) -> str:
        return self.active()[1]

    def algorithms(self) -> list[str]:
        """The signing algorithm, then any other algorithm of a still-published key (only while
        an algorithm change at a rotation is in progress)."""
        algs = [self.alg]
        for row in self.published():
            if row["alg"] not in algs:
                algs.append(str(row["alg"]))
        return algs

    def sign(self, claims: dict[str, Any], typ: str = "JWT") -> str:
        kid, alg, signer = self.active()
        token = tokens.encode(claims, signer, kid, alg, typ)
        exp = int(claims["exp"])
        if exp > self._noted.get(kid, 0):
            ahead = exp + LAST_EXP_AHEAD
            self.store.note_key_use(kid, ahead)  # the database keeps the largest value
            with self._lock:  # and so does this process, whatever order threads finish in
                self._noted[kid] = max(ahead, self._noted.get(kid, 0))
        return token

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                tokens.public_jwk(self._signer(row).public_key, row["alg"])
                for row in self.published()
            ]
        }

    def verification_keys(self) -> dict[str, tuple[PublicKeyTypes, str]]:
        return {
            str(row["kid"]): (self._signer(row).public_key, str(row["alg"]))
            for row in self.published()
        }

"""Static tlog-tiles logs on disk for the mirror's unit tests, written the long way (every tile from
the leaf hashes with ``protocol.merkle.root_of``, as c2sp.org/tlog-tiles defines them), signed C2SP
style (Ed25519, key name = origin, as Rekor v2) or Rekor v1 style (ECDSA, key name = host), plus
trusted roots naming them. A log publishes like ``sigstack serve rekor2 export-tiles``: partial
tiles are removed once full. Nothing here is the mirror's code."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sigstack.protocol import merkle, note
from sigstack.protocol.trust import (
    TRUSTED_ROOT_V01,
    PublicKey,
    TimeRange,
    TransparencyLogInstance,
    TrustedRoot,
)

WIDTH = 256


def path_of(level: int | str, index: int, width: int = WIDTH) -> str:
    digits = f"{index:03d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    path = "/".join([f"x{g}" for g in groups[:-1]] + [groups[-1]])
    return f"{level}/{path}" + (f".p/{width}" if width < WIDTH else "")


class StaticLog:
    """A log whose tiles, bundles and checkpoint live under ``root`` (what a web server serves)."""

    def __init__(self, root: Path, origin: str, *, v1: bool = False,
                 key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | None = None) -> None:  # fmt: skip
        self.root, self.origin, self.v1 = root, origin, v1
        self.key = key or (ec.generate_private_key(ec.SECP256R1()) if v1
                           else ed25519.Ed25519PrivateKey.generate())  # fmt: skip
        self.entries: list[bytes] = []
        root.mkdir(parents=True, exist_ok=True)

    # --- keys ---------------------------------------------------------------------------------

    @property
    def spki(self) -> bytes:
        return self.key.public_key().public_bytes(serialization.Encoding.DER,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip

    @property
    def log_id(self) -> bytes:
        if self.v1:
            return hashlib.sha256(self.spki).digest()
        return note.note_key_digest(self.origin, self.key.public_key())

    def instance(self, url: str = "") -> TransparencyLogInstance:
        details = "PKIX_ECDSA_P256_SHA_256" if self.v1 else "PKIX_ED25519"
        start = TimeRange(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
        return TransparencyLogInstance(base_url=url, hash_algorithm="SHA2_256",
                                       public_key=PublicKey(self.spki, details, start),
                                       log_id=self.log_id)  # fmt: skip

    def sign(self, size: int, root_hash: bytes) -> str:
        checkpoint = note.Checkpoint(self.origin, size, root_hash)
        if self.v1:
            assert isinstance(self.key, ec.EllipticCurvePrivateKey)
            key = self.key
            name = self.origin.split(" - ")[0]
            return note.sign_checkpoint(checkpoint, name, note.ecdsa_key_id(self.spki),
                                        lambda m: key.sign(m, ec.ECDSA(hashes.SHA256())))  # fmt: skip
        assert isinstance(self.key, ed25519.Ed25519PrivateKey)
        raw = self.key.public_key().public_bytes(serialization.Encoding.Raw,
                                                 serialization.PublicFormat.Raw)  # fmt: skip
        return note.sign_checkpoint(checkpoint, self.origin,
                                    note.ed25519_key_id(self.origin, raw), self.key.sign)  # fmt: skip

    # --- writing ------------------------------------------------------------------------------

    def add(self, count: int, tag: bytes = b"entry") -> StaticLog:
        """Append ``count`` entries and publish."""
        start = len(self.entries)
        self.entries += [b"%s %d " % (tag, i) + os.urandom(8) for i in range(start, start + count)]
        self.publish()
        return self

    def publish(self, size: int | None = None) -> str:
        """Write every tile of the tree of the first ``size`` entries (default all), remove
        partial tiles the tree no longer has, then the checkpoint; returns the checkpoint."""
        size = len(self.entries) if size is None else size
        entries = self.entries[:size]
        level = [merkle.leaf_hash(e) for e in entries]
        wanted: set[str] = set()
        height = 0
        while level:
            for n in range(0, len(level), WIDTH):
                chunk = level[n : n + WIDTH]
                path = path_of(height, n // WIDTH, len(chunk))
                self._write(f"tile/{path}", b"".join(chunk))
                wanted.add(f"tile/{path}")
                if height == 0:
                    bundle = b"".join(len(e).to_bytes(2, "big") + e
                                      for e in entries[n : n + WIDTH])  # fmt: skip
                    self._write(f"tile/{path_of('entries', n // WIDTH, len(chunk))}", bundle)
                    wanted.add(f"tile/{path_of('entries', n // WIDTH, len(chunk))}")
            level = [merkle.root_of(level[n : n + WIDTH])
                     for n in range(0, len(level) - WIDTH + 1, WIDTH)]  # fmt: skip
            height += 1
        for rel in wanted:  # partial tiles that became full go, as export-tiles removes them
            if ".p/" not in rel:
                shutil.rmtree(self.root / f"{rel}.p", ignore_errors=True)
        text = self.sign(size, merkle.root_of([merkle.leaf_hash(e) for e in entries]))
        self._write("checkpoint", text.encode())
        return text

    def _write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def fork(self, root: Path, keep: int) -> StaticLog:
        """The same log (key, origin) restored with its first ``keep`` entries, at ``root``."""
        copy = StaticLog(root, self.origin, v1=self.v1, key=self.key)
        copy.entries = list(self.entries[:keep])
        copy.publish()
        return copy


def trusted_root(logs: Iterable[StaticLog], path: Path | None = None) -> bytes:
    root = TrustedRoot(media_type=TRUSTED_ROOT_V01, tlogs=tuple(log.instance() for log in logs),
                       certificate_authorities=(), ctlogs=())  # fmt: skip
    data = root.to_json().encode()
    if path is not None:
        path.write_bytes(data)
    return data


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (links resolved) with its content, and where ``current``
    points: two equal snapshots mean nothing a reader sees has changed."""
    out = {str(p.relative_to(directory)): p.read_bytes()
           for p in sorted(directory.rglob("*")) if p.is_file()}  # fmt: skip
    link = directory / "current"
    if link.is_symlink():
        out["->current"] = os.readlink(link).encode()
    return out


def copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)

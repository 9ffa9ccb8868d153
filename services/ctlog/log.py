"""The RFC 6962 personality on the shared log engine (``services.tlog``).

- ``add_chain(chain, precert)`` checks the submission (RFC 6962 section 4.1/4.2): every certificate
  is signed by the next, the chain ends in (or is issued by) a configured root, a precertificate
  carries the critical poison extension and a final certificate does not. It appends the
  MerkleTreeLeaf (section 3.4; the SCT timestamp is inside) with ``extra`` = the get-entries
  ``extra_data`` (section 4.6), deduplicated on (entry type, signed entry) so a resubmission gets an
  SCT with the first timestamp, and returns a v1 SCT signed by the log key.
- Tree heads are RFC 6962 STHs: the engine stores, per committed batch, the base64 TLS
  ``DigitallySigned`` over the TreeHeadSignature (section 3.5) as the head's note.
- Log ID = SHA-256 of the key's DER SubjectPublicKeyInfo.
Precertificates issued through a precertificate-signing certificate are refused (Fulcio does not
use them).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine

from sigstack.protocol import keys, x509ext
from sigstack.protocol import sct as ctsct
from sigstack.protocol.errors import (
    ConfigError,
    NotFoundError,
    ValidationError,
    VerificationError,
)
from sigstack.services.keys import Signer
from sigstack.services.tlog import Entry, Log, TreeHead, identity_of, open_log

MAX_CHAIN = 10
MAX_VERIFIED = 1024  # cached issuer-pair checks (a few per CA in practice)


def _u24(data: bytes) -> bytes:
    return len(data).to_bytes(3, "big") + data


def _chain_vector(certs: list[bytes]) -> bytes:
    return _u24(b"".join(_u24(c) for c in certs))


class CTLog:
    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        roots: list[x509.Certificate],
        *,
        create: bool = False,
        **options: Any,
    ) -> None:
        if not roots:
            raise ConfigError("the CT log needs at least one accepted root")
        self.signer = signer
        self.roots = roots
        self.roots_der = [r.public_bytes(serialization.Encoding.DER) for r in roots]
        self.log_id = keys.key_id(signer.public_key)
        # (certificate, issuer) DER pairs above the leaf whose signature has been checked: the
        # issuing chain is the same for every submission from one CA, so it is verified once.
        self._verified: set[tuple[bytes, bytes]] = set()
        self._issuers: dict[bytes, bytes] = {}  # issuer DER -> SHA-256 of its key
        self.log: Log = open_log(
            engine, "ctlog", signer.public_der, self._sign_head, create=create, **options
        )

    # ---- signing -------------------------------------------------------------------------------

    def _sign_head(self, size: int, root: bytes, timestamp_ms: int) -> str:
        data = ctsct.tree_head_signed_data(timestamp_ms, size, root)
        return base64.b64encode(ctsct.digitally_signed(self.signer.sign(data))).decode()

    def sth(self) -> dict[str, Any]:
        head: TreeHead = self.log.head()
        signature = head.note or self._sign_head(head.size, head.root_hash, head.timestamp_ms)
        return {
            "tree_size": head.size,
            "timestamp": head.timestamp_ms,
            "sha256_root_hash": base64.b64encode(head.root_hash).decode(),
            "tree_head_signature": signature,
        }

    # ---- submissions ---------------------------------------------------------------------------

    def _parse_chain(self, chain: list[bytes]) -> list[x509.Certificate]:
        if not chain:
            raise ValidationError("chain is empty")
        if len(chain) > MAX_CHAIN:
            raise ValidationError(f"chain is longer than {MAX_CHAIN} certificates")
        try:
            certs = [x509.load_der_x509_certificate(c) for c in chain]
        except (ValueError, x509.InvalidVersion) as exc:
            raise ValidationError("chain holds a certificate that does not parse") from exc
        for i, (child, parent) in enumerate(zip(certs, certs[1:], strict=False)):
            pair = (chain[i], chain[i + 1])
            if i and pair in self._verified:
                continue
            try:
                keys.verify_issued_by(child, parent)
            except VerificationError:
                raise ValidationError(
                    "chain is not ordered: a certificate is not signed by the next"
                ) from None
            if i and len(self._verified) < MAX_VERIFIED:
                self._verified.add(pair)
        if chain[-1] not in self.roots_der:
            self._verify_issued_by_a_root(certs[-1])
        return certs

    def _verify_issued_by_a_root(self, cert: x509.Certificate) -> None:
        for root in self.roots:
            try:
                keys.verify_issued_by(cert, root)
            except VerificationError:
                continue
            return
        raise ValidationError("chain does not end in a root this log accepts")

    def _issuer_key_hash(self, der: bytes, issuer: x509.Certificate) -> bytes:
        """SHA-256 of the precertificate issuer's key (RFC 6962 section 3.2), after refusing a
        precertificate-signing certificate; cached per issuer, as the chain pairs are."""
        known = self._issuers.get(der)
        if known is not None:
            return known
        try:
            eku = x509ext.extensions(issuer).get_extension_for_class(x509.ExtendedKeyUsage).value
            if ctsct.OID_PRECERT_SIGNING_EKU in eku:
                raise ValidationError("precertificate-signing certificates are not supported")
        except x509.ExtensionNotFound:
            pass
        digest = keys.key_id(issuer.public_key())
        if len(self._issuers) < MAX_VERIFIED:
            self._issuers[der] = digest
        return digest

    def add_chain(self, chain: list[bytes], precert: bool) -> ctsct.SignedCertificateTimestamp:
        """Validate, log and answer an SCT (see module docstring)."""
        certs = self._parse_chain(chain)
        leaf = certs[0]
        try:
            poison = x509ext.extensions(leaf).get_extension_for_oid(ctsct.OID_PRECERT_POISON)
        except x509.ExtensionNotFound:
            poison = None
        if precert:
            if poison is None or not poison.critical:
                raise ValidationError("add-pre-chain needs a precertificate (critical poison)")
            if len(certs) < 2:
                raise ValidationError("a precertificate chain needs its issuer")
            tbs = ctsct.strip_extension_from_tbs(leaf.tbs_certificate_bytes)
            entry_type = ctsct.PRECERT_ENTRY
            signed_entry = ctsct.precert_signed_entry(
                self._issuer_key_hash(chain[1], certs[1]), tbs
            )
            extra = _u24(chain[0]) + _chain_vector(chain[1:])
        else:
            if poison is not None:
                raise ValidationError("add-chain does not take precertificates")
            entry_type = ctsct.X509_ENTRY
            signed_entry = ctsct.x509_signed_entry(chain[0])
            extra = _chain_vector(chain[1:])
        timestamp = int(time.time() * 1000)
        leaf_input = ctsct.merkle_tree_leaf(timestamp, entry_type, signed_entry, b"")
        identity = identity_of(b"rfc6962", entry_type.to_bytes(2, "big"), signed_entry)
        appended = self.log.append(leaf_input, identity=identity, extra=extra)
        if appended.duplicate:
            first = self.log.entry(appended.index).leaf
            timestamp = int.from_bytes(first[2:10], "big")
        return self.sign_sct(timestamp, entry_type, signed_entry)

    def sign_sct(
        self, timestamp: int, entry_type: int, signed_entry: bytes
    ) -> ctsct.SignedCertificateTimestamp:
        data = ctsct.signed_data(timestamp, entry_type, signed_entry)
        return ctsct.SignedCertificateTimestamp(self.log_id, timestamp, self.signer.sign(data))

    # ---- reads ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the database connections (before a fork: none may cross it, runtime.server)."""
        self.log.engine.dispose()

    def size(self) -> int:
        """The size of the latest committed tree."""
        return self.log.head().size

    def check_size(self, size: int) -> None:
        """Raise ``ValidationError`` unless a tree of ``size`` leaves has been committed."""
        if size > self.size():
            raise ValidationError("tree_size is larger than the current tree")

    def consistency(self, first: int, second: int) -> list[bytes]:
        """The consistency proof between two committed sizes (none from the empty tree)."""
        if first > second:
            raise ValidationError("first must not be larger than second")
        self.check_size(second)
        return [] if first == 0 else self.log.consistency_proof(first, second)

    def proof_by_hash(self, leaf_hash: bytes, size: int) -> tuple[int, list[bytes]]:
        """The index of the leaf with ``leaf_hash`` and its inclusion proof in the tree of
        ``size``; ``NotFoundError`` if that tree does not hold it."""
        self.check_size(size)
        index = self.log.index_of(leaf_hash)
        if index is None or index >= size:
            raise NotFoundError("no leaf with this hash in a tree of that size")
        return index, self.log.inclusion_proof(index, size)

    def entry_and_proof(self, index: int, size: int) -> tuple[Entry, list[bytes]]:
        self.check_size(size)
        if index >= size:
            raise ValidationError("leaf_index must be smaller than tree_size")
        return self.log.entry(index), self.log.inclusion_proof(index, size)

    def entries(self, start: int, end: int, most: int) -> list[dict[str, str]]:
        """get-entries: from ``start`` to ``end`` inclusive, at most ``most``, within the tree."""
        if end < start:
            raise ValidationError("end must not be smaller than start")
        size = self.size()
        if start >= size:
            raise ValidationError("start is beyond the end of the tree")
        end = min(end, start + most - 1, size - 1)
        return [
            {
                "leaf_input": base64.b64encode(e.leaf).decode(),
                "extra_data": base64.b64encode(e.extra).decode(),
            }
            for e in self.log.entries(start, end + 1)
        ]

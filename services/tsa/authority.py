"""Timestamp tokens: a ``TimestampRequest`` in, a DER ``TimeStampResp`` out (RFC 3161 section 2.4.2,
CMS SignedData of RFC 5652 section 5, signing-certificate-v2 of RFC 5816).

The answer is what sigstore/timestamp-authority emits, field for field (docs/tsa.md):

- ``TimeStampResp``: status ``granted`` (0) with no statusString or failInfo; refusals never
  reach here (they are HTTP errors, as upstream), so there are no rejection answers.
- ``TSTInfo``: version 1; the requested policy when it is accepted, else the default
  (``1.3.6.1.4.1.57264.2``, Sigstore's); the request's ``MessageImprint`` byte for byte; a serial
  number (below); ``genTime`` in whole UTC seconds, the time truncated (as Go's encoder does), with
  ``accuracy`` one second covering the truncation; ``ordering`` left out (it is ``DEFAULT FALSE``:
  DER forbids writing it and rfc3161-client refuses it); the request's nonce when it sent one;
  ``tsa`` = the leaf's subject as a directoryName; no extensions.
- ``SignedData`` version 3 around it (eContentType id-ct-TSTInfo); ``certificates`` only when
  the request set certReq (RFC 3161 section 2.4.1), then the leaf, or the whole chain with
  ``include_chain``; one ``SignerInfo`` version 1 naming the leaf by issuer and serial number.
- Signed attributes: content-type, signing-time, message-digest (of the TSTInfo DER) and
  signing-certificate-v2 whose ESSCertIDv2 hashes the leaf with the request's imprint algorithm
  (as upstream) and names its issuer and serial. ``openssl ts -verify`` needs that attribute.

DER: what never changes between answers is encoded once, when the authority is made, by
asn1crypto (certificates SET, sorted; the signer's issuer and serial number; digest and signature
algorithm identifiers; the content-type and signing-certificate-v2 attributes; the TSTInfo's
accuracy and ``tsa`` name; the policies). Each answer writes the rest directly (``der``): the
TSTInfo around the request's imprint and nonce, a serial and the time; the signing-time and
message-digest attributes; the attribute SET, sorted by encoding (X.690 section 11.6;
rfc3161-client, hence sigstore-python, refuses unsorted sets); the signature; and the tags and
lengths of the SignedData around them: 28 µs of CPU per answer against 117 when asn1crypto
built each (16 of them the signature and digests; bench/README.md). The unit tests hold the
answers to asn1crypto's: an answer parsed and re-encoded from the parsed values
(``dump(force=True)``) is byte-identical, and so is the one asn1crypto builds from native values
with the same serial number, time and signature (tests/unit/tsa/reference.py), for many random
requests (tests/unit/tsa/test_answer_der.py).

The signature is made by the ``Signer`` over the DER of the attribute SET; it hashes with SHA-256
for a P-256 key and SHA-384 for P-384, so the ``SignerInfo`` states that same digest algorithm
(also used for message-digest, RFC 5652 section 5.4) and ``ecdsa-with-SHA256``/``SHA384``.

Serial numbers are 159 random bits from the operating system's CSPRNG
(``keys.certificates.random_serial``, as for the CA's certificates), as a positive INTEGER of at
most 20 octets (RFC 3161 section 2.4.2 asks TSAs to handle 160 bits; upstream draws 160). No
state is shared between workers, hosts or restarts: after 2^40 timestamps from any number of
processes, the chance that two serials were ever equal is below 2^80 / 2^159 = 2^-79 (birthday
bound), far below the chance of a hardware fault. A database counter would add a write per
timestamp and a single point of failure for no gain a verifier can see.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol.errors import ConfigError, UnavailableError, ValidationError
from sigstack.services.keys import Signer
from sigstack.services.keys.certificates import random_serial

from . import der
from .chain import check_chain
from .request import _OID, TimestampRequest

log = logging.getLogger("sigstack.tsa")

SIGSTORE_POLICY = "1.3.6.1.4.1.57264.2"
_DER = serialization.Encoding.DER
# (SignerInfo digest algorithm, signature algorithm) for the curve the Signer hashes for.
_ALGORITHMS = {"secp256r1": ("sha256", "sha256_ecdsa"), "secp384r1": ("sha384", "sha384_ecdsa")}


@dataclass(frozen=True)
class Options:
    """The policy side of a TSA (docs/configuration.md, ``sigstack serve tsa``)."""

    default_policy: str = SIGSTORE_POLICY
    accepted_policies: tuple[str, ...] = (SIGSTORE_POLICY,)
    include_chain: bool = False
    accuracy_seconds: int = 1

    @classmethod
    def from_config(cls, config: dict[str, object]) -> Options:
        default = config.get("default_policy_oid") or SIGSTORE_POLICY
        accepted = config.get("accepted_policy_oids") or [default]
        accuracy = config.get("accuracy_seconds", 1)
        if not isinstance(default, str) or not _OID.match(default):
            raise ConfigError("default_policy_oid must be a dotted object identifier")
        if not isinstance(accepted, list) or not all(
            isinstance(p, str) and _OID.match(p) for p in accepted
        ):
            raise ConfigError("accepted_policy_oids must be a list of dotted object identifiers")
        if isinstance(accuracy, bool) or not isinstance(accuracy, int) or not 1 <= accuracy <= 60:
            raise ConfigError("accuracy_seconds must be a whole number of seconds from 1 to 60")
        include = config.get("include_chain_in_response", False)
        if not isinstance(include, bool):
            raise ConfigError("include_chain_in_response must be true or false")
        return cls(default, tuple(dict.fromkeys([default, *accepted])), include, accuracy)


def _ess_attribute(leaf_der: bytes, leaf: ax509.Certificate, hash_name: str) -> bytes:
    """DER of the signing-certificate-v2 attribute naming ``leaf`` (RFC 5816 section 2.2.1)."""
    cert_id = {
        "cert_hash": hashlib.new(hash_name, leaf_der).digest(),
        "issuer_serial": {
            "issuer": [ax509.GeneralName({"directory_name": leaf.issuer})],
            "serial_number": leaf.serial_number,
        },
    }
    if hash_name != "sha256":  # DEFAULT sha256: DER leaves the default out
        cert_id["hash_algorithm"] = {"algorithm": hash_name, "parameters": None}
    value = tsp.SigningCertificateV2({"certs": [cert_id]})
    return bytes(cms.CMSAttribute({"type": "signing_certificate_v2", "values": [value]}).dump())


def _signing_time(now: dt.datetime) -> bytes:
    """UTCTime through 2049, GeneralizedTime after (RFC 5652 section 11.3)."""
    return der.utc_time(now) if now.year < 2050 else der.generalized_time(now)


def _oid(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


_V1, _V3 = der.integer(1), der.integer(3)
_ID_CT_TST_INFO = _oid("1.2.840.113549.1.9.16.1.4")  # RFC 3161 section 2.4.2
_ID_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")  # RFC 5652 section 5.1
_ID_SIGNING_TIME = _oid("1.2.840.113549.1.9.5")  # RFC 5652 section 11.3
_ID_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")  # RFC 5652 section 11.2
_SEQ, _SET, _OCTETS, _EXPLICIT_0 = der.SEQUENCE, der.SET, der.OCTET_STRING, der.CONTEXT_0


class TimestampAuthority:
    """Signs timestamps with ``signer`` under ``chain`` (leaf first, root last), checked here.

    What never changes between answers is encoded once, here, as DER; an answer adds the parts
    that do (serial, times, imprint, nonce, digests, signature). Nothing mutable is shared, so
    answers are built on several threads at once.
    """

    def __init__(
        self,
        signer: Signer,
        chain: list[x509.Certificate],
        options: Options | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        check_chain(chain, signer.public_der)
        self.signer = signer
        self.chain = chain
        self.options = options or Options()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        key = chain[0].public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey)  # check_chain made sure
        self.digest_name, signature_name = _ALGORITHMS[key.curve.name]
        self._hash = getattr(hashlib, self.digest_name)
        self.not_before = chain[0].not_valid_before_utc
        self.not_after = chain[0].not_valid_after_utc
        leaf_der = chain[0].public_bytes(_DER)
        leaf = ax509.Certificate.load(leaf_der)
        policies = (self.options.default_policy, *self.options.accepted_policies)
        self._policies = {p: _oid(p) for p in policies}
        self._accuracy = tsp.Accuracy({"seconds": self.options.accuracy_seconds}).dump()
        self._tsa_name = ax509.GeneralName({"directory_name": leaf.subject}, explicit=0).dump()
        self._content_type = cms.CMSAttribute(
            {"type": "content_type", "values": ["tst_info"]}
        ).dump()
        self._ess = {h: _ess_attribute(leaf_der, leaf, h) for h in ("sha256", "sha384", "sha512")}
        self._sid = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": {
                    "issuer": leaf.issuer,
                    "serial_number": leaf.serial_number,
                }
            }
        ).dump()
        digest_algorithm = {"algorithm": self.digest_name, "parameters": None}  # RFC 5754 s. 2
        self._digest_algorithm = algos.DigestAlgorithm(digest_algorithm).dump()
        self._digest_algorithms = cms.DigestAlgorithms([digest_algorithm]).dump()
        self._signature_algorithm = algos.SignedDigestAlgorithm(
            {"algorithm": signature_name}
        ).dump()
        self._signer_head = _V1 + self._sid + self._digest_algorithm  # SignerInfo's first fields
        sent = chain if self.options.include_chain else chain[:1]
        self._certificates = cms.CertificateSet(
            [
                cms.CertificateChoices(
                    {"certificate": ax509.Certificate.load(c.public_bytes(_DER))}
                )
                for c in sent
            ],
            implicit=0,
        ).dump()  # sorted by dump()
        self._granted = tsp.PKIStatusInfo({"status": "granted"}).dump()

    def policy_for(self, requested: str | None) -> str:
        if requested is None:
            return self.options.default_policy
        if requested not in self.options.accepted_policies:
            raise ValidationError(f"unaccepted policy: {requested}")
        return requested

    def _now(self) -> dt.datetime:
        now = self.clock().astimezone(dt.UTC).replace(microsecond=0)
        if not self.not_before <= now <= self.not_after:
            log.error("the TSA certificate is not valid at %s; refusing to sign", now.isoformat())
            raise UnavailableError("the timestamp authority's certificate is not valid now")
        return now

    def tst_info(self, req: TimestampRequest, now: dt.datetime, serial: int) -> bytes:
        """DER TSTInfo (RFC 3161 section 2.4.2) for ``req`` at ``now`` (whole seconds)."""
        nonce = der.integer(req.nonce) if req.nonce is not None else b""
        return der.tlv(
            _SEQ,
            b"".join(
                (
                    _V1,
                    self._policies[self.policy_for(req.policy)],
                    req.imprint,
                    der.integer(serial),
                    der.generalized_time(now),
                    self._accuracy,
                    nonce,
                    self._tsa_name,
                )
            ),
        )

    def signed_attributes(self, tst_der: bytes, hash_name: str, now: dt.datetime) -> bytes:
        """The contents of the signed-attribute SET (RFC 5652 section 5.3), sorted: tagged SET
        (0x31) it is what is signed, tagged [0] it is the SignerInfo's ``signedAttrs``."""
        digest = self._hash(tst_der).digest()
        signing_time = der.tlv(_SEQ, _ID_SIGNING_TIME + der.tlv(_SET, _signing_time(now)))
        message_digest = der.tlv(_SEQ, _ID_MESSAGE_DIGEST + der.tlv(_SET, der.tlv(_OCTETS, digest)))
        attributes = (self._content_type, signing_time, message_digest, self._ess[hash_name])
        return b"".join(sorted(attributes))

    def _sign(self, data: bytes) -> bytes:
        try:
            return self.signer.sign(data)
        except Exception as exc:  # an HSM or key failure: logged, never shown to the client
            log.error("signing a timestamp failed: %r", exc)
            raise UnavailableError("the timestamp could not be signed") from exc

    def timestamp(self, req: TimestampRequest) -> bytes:
        """The DER ``TimeStampResp`` granting ``req`` (see the module docstring)."""
        now = self._now()
        tst_der = self.tst_info(req, now, random_serial())
        attributes = self.signed_attributes(tst_der, req.hash_name, now)
        signature = self._sign(der.tlv(_SET, attributes))
        signer_info = der.tlv(
            _SEQ,
            self._signer_head
            + der.tlv(der.CONTEXT_0, attributes)  # [0] IMPLICIT: the same SET
            + self._signature_algorithm
            + der.tlv(_OCTETS, signature),
        )
        content = _ID_CT_TST_INFO + der.tlv(_EXPLICIT_0, der.tlv(_OCTETS, tst_der))
        certificates = self._certificates if req.cert_req else b""  # RFC 3161 s. 2.4.1
        signed_data = der.tlv(
            _SEQ,
            _V3
            + self._digest_algorithms
            + der.tlv(_SEQ, content)
            + certificates
            + der.tlv(_SET, signer_info),
        )
        token = der.tlv(_SEQ, _ID_SIGNED_DATA + der.tlv(_EXPLICIT_0, signed_data))
        return der.tlv(_SEQ, self._granted + token)

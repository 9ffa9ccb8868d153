"""Outside and inside checks of what a transparency log answered: a Rekor v1 LogEntry verified by
sigstore-python 4.5.1's own code and parsed by the sigstore-rekor-types models; a Rekor v2
TransparencyLogEntry verified by sigstore-python and by sigstack's own verifier (client/verify).

The entries sent come from ``tests.support.entries``.
"""

from __future__ import annotations

import base64
import datetime
import json
from typing import Any

from tests.support.entries import V2Signed
from tests.support.keys import b64
from tests.support.testdata import TESTDATA


def sigstore_python_verify(response: dict[str, Any], log_public_der: bytes) -> None:
    """Verify a Rekor v1 LogEntry response with sigstore-python 4.5.1's own code.

    Checks the Merkle inclusion proof, the signed checkpoint and the signed entry timestamp.
    """
    from sigstore._internal.trust import Keyring, RekorKeyring
    from sigstore.models import TransparencyLogEntry
    from sigstore_models.common import v1 as common_v1

    keyring = RekorKeyring(
        Keyring(
            [
                common_v1.PublicKey(
                    raw_bytes=base64.b64encode(log_public_der),
                    key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
                )
            ]
        )
    )
    entry = TransparencyLogEntry._from_v1_response(response)
    entry._verify(keyring)


def rekor_types_parse(response: dict[str, Any]) -> None:
    """Parse a response's entries with the sigstore-rekor-types models."""
    import rekor_types
    from pydantic import TypeAdapter

    for value in response.values():
        TypeAdapter(rekor_types.ProposedEntry).validate_json(base64.b64decode(value["body"]))


def _unrelated_timestamp() -> Any:
    """A real RFC 3161 answer (staging): sigstore-python's bundle constructor wants a time source
    before it lets the body checks run; those checks never look at it."""
    from rfc3161_client import decode_timestamp_response

    path = TESTDATA / "pyassets/cases/staging-rekor-v2-happy-path/bundle.sigstore.json"
    material = json.loads(path.read_text())["verificationMaterial"]
    raw = material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
    return decode_timestamp_response(base64.b64decode(raw))


def sigstore_python_verify_v2(
    response: dict[str, Any], log_public_der: bytes, key_details: str,
    signed: V2Signed | None = None,
) -> None:  # fmt: skip
    """Verify a Rekor v2 TransparencyLogEntry answer with sigstore-python 4.5.1's own code.

    The entry is read as sigstore-python's RekorV2Client reads it, then its inclusion proof and
    signed checkpoint are verified (``TransparencyLogEntry._verify``). With ``signed`` (made with
    a certificate), the logged body is also checked against the signature, digest and certificate
    by the functions sigstore-python's Verifier runs for hashedrekord 0.0.2 entries (DSSE ones too).
    """
    from sigstore._internal.trust import Keyring, RekorKeyring
    from sigstore.models import TransparencyLogEntry
    from sigstore_models.common import v1 as common_v1
    from sigstore_models.rekor.v1 import TransparencyLogEntry as InnerEntry

    keyring = RekorKeyring(
        Keyring(
            [
                common_v1.PublicKey(
                    raw_bytes=base64.b64encode(log_public_der),
                    key_details=common_v1.PublicKeyDetails(key_details),
                )
            ]
        )
    )
    entry = TransparencyLogEntry(InnerEntry.from_dict(response))
    entry._verify(keyring)
    if signed is None:
        return
    assert signed.certificate is not None, "sigstore-python verifies certificate entries only"
    from sigstore import dsse
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify import verifier as sp_verifier
    from sigstore_models.bundle.v1 import MessageSignature

    stamp = [_unrelated_timestamp()]
    if signed.envelope is not None:
        envelope = dsse.Envelope._from_json(json.dumps(signed.envelope))
        bundle = Bundle._from_parts(signed.certificate, envelope, entry, signed_timestamp=stamp)
        sp_verifier._validate_hashedrekord_v002_dsse_entry_body(bundle)
        return
    sha256 = common_v1.HashAlgorithm.SHA2_256
    content = MessageSignature(
        message_digest=common_v1.HashOutput(algorithm=sha256, digest=b64(signed.digest)),
        signature=b64(signed.signature),
    )
    bundle = Bundle._from_parts(signed.certificate, content, entry, signed_timestamp=stamp)
    sp_verifier._validate_hashedrekord_v002_entry_body(
        bundle, Hashed(algorithm=sha256, digest=signed.digest)
    )


def our_verify_v2(
    response: dict[str, Any], log_public_der: bytes, key_details: str, log_id: bytes,
    signed: V2Signed | None = None,
) -> None:  # fmt: skip
    """Verify a Rekor v2 TransparencyLogEntry answer with sigstack's own verifier (client/verify):
    inclusion proof, checkpoint signed by the trusted log key named by ``log_id``, and, with
    ``signed``, the logged body against the signature, digest and signer."""
    from sigstack.client.verify.keys import Keyring
    from sigstack.client.verify.tlog import check_dsse, check_hashedrekord, verify_entry
    from sigstack.protocol.bundle import DsseEnvelope, DsseSignature, TransparencyLogEntry
    from sigstack.protocol.trust import PublicKey, TransparencyLogInstance

    entry = TransparencyLogEntry.from_json(json.dumps(response))
    log = TransparencyLogInstance(
        base_url="http://rekor2.test",
        hash_algorithm="SHA2_256",
        public_key=PublicKey(raw_bytes=log_public_der, key_details=key_details),
        log_id=log_id,
    )
    now = datetime.datetime.now(datetime.UTC)
    verify_entry(entry, Keyring((log,), now), [now])
    if signed is None:
        return
    signer = signed.certificate or signed.key.public_key()
    if signed.envelope is not None:
        sigs = tuple(DsseSignature(sig=base64.b64decode(s["sig"]), keyid="")
                     for s in signed.envelope["signatures"])  # fmt: skip
        envelope = DsseEnvelope(payload=base64.b64decode(signed.envelope["payload"]),
                                payload_type=signed.envelope["payloadType"], signatures=sigs)  # fmt: skip
        check_dsse(entry, signer, envelope)
    else:
        check_hashedrekord(entry, signer, signed.signature, signed.digest)

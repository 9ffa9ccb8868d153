"""``load_verifier`` refuses certificates cryptography cannot read with a ``ValidationError``
(each was a 500 before; found by fuzzing): a version-4 certificate, one with a repeated or a
malformed extension (whose SANs Rekor indexes), one with a key of an unknown type."""

from __future__ import annotations

import base64

import pytest

from sigstack.protocol.errors import ValidationError
from sigstack.services.rekor.verifiers import load_verifier
from tests.unit.fuzz import broken, seeds


def _armour(der: bytes) -> str:
    body = base64.b64encode(der)
    lines = b"\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem).decode()


def test_a_real_certificate_loads_and_gives_its_sans() -> None:
    verifier = load_verifier(_armour(seeds.certificates()[0]))
    assert verifier.subjects()


@pytest.mark.parametrize(
    "edit",
    [
        broken.bad_version,
        broken.duplicated_extension,
        broken.malformed_extension,
        broken.unknown_key_type,
    ],  # fmt: skip
)
def test_unreadable_certificates_are_refused(edit) -> None:
    with pytest.raises(ValidationError, match="publicKey.content"):
        load_verifier(_armour(edit(seeds.certificates()[0])), "publicKey.content")

"""A bundle signed outside every CA window of the trusted root (typically: before the trust root's
``validFor`` start, when it was built with the default ``--valid-from`` of "now" after the first
signatures) is refused with a message naming the trusted root's windows and ``--valid-from``,
not one that only points at the clock (issue 15, item 7)."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from sigstack.client.verify import Artifact, IdentityPolicy, Verifier
from sigstack.protocol.errors import VerificationError
from sigstack.protocol.trust import TimeRange

from .kit import IDENTITY, ISSUER, Kit

DATA = b"signed before the trust root was published\n"


def test_signed_before_the_ca_window_names_the_windows_and_valid_from() -> None:
    kit = Kit()
    bundle = kit.sign_blob(DATA)[0]
    ca = kit.trusted_root().certificate_authorities[0]
    start = datetime.now(UTC) + timedelta(hours=1)
    late = TimeRange(start.replace(microsecond=0))
    root = kit.trusted_root(certificate_authorities=(dataclasses.replace(ca, valid_for=late),))
    with pytest.raises(VerificationError) as caught:
        Verifier(root).verify_artifact(
            bundle,
            Artifact(hashlib.sha256(DATA).digest()),
            IdentityPolicy(identity=IDENTITY, issuer=ISSUER),
        )
    message = caught.value.message
    assert "no certificate authority of the trusted root was valid at" in message
    assert late.start.isoformat() in message  # the window the user has to compare with
    assert "before" in message and "--valid-from" in message

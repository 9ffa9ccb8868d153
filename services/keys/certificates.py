"""What our certificate authorities (Fulcio's CA, ``sigstack ca create``, the TSA's chain) write
the same way: random serial numbers (RFC 5280 section 4.1.2.2), O + CN names, the start of every
certificate (names, key, serial, validity within its issuer's), and PEM files written only where
none exists yet.

The profiles themselves (extensions, key usages, lifetimes, the signing hash) are each service's.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from .signer import Signer


def random_serial() -> int:
    """A positive serial of at most 159 bits (20 random bytes, top bit cleared)."""
    while True:
        serial = int.from_bytes(os.urandom(20), "big") >> 1
        if serial:
            return serial


def name(common_name: str, organization: str) -> x509.Name:
    """The subject our CA certificates carry: organization, then common name."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def builder(
    signer: Signer,
    subject: x509.Name,
    issuer: x509.Certificate | None,
    start: dt.datetime,
    years: int,
) -> x509.CertificateBuilder:
    """A certificate for ``signer``'s key named ``subject``, under ``issuer``'s name (self-issued
    when None), with a random serial, valid from ``start`` for ``years`` years of 365 days but
    never beyond its issuer; no extensions yet."""
    end = start + dt.timedelta(days=365 * years)
    if issuer is not None:
        end = min(end, issuer.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(signer.public_key)
        .serial_number(random_serial())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def write_new(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path``, which must not exist yet (``FileExistsError`` otherwise)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)

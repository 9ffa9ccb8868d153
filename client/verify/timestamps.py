"""RFC 3161 signed timestamps from the bundle, checked against the trusted root's timestamp
authorities (each chain: [TSA signing certificate, intermediates..., root]).

The timestamped message is the signature bytes (the message signature or the DSSE signature). A
timestamp counts only if its ``genTime`` lies inside the authority's ``validFor`` window (closed
interval). At most 32 timestamps and no duplicates, as sigstore-python enforces. A well-formed
timestamp that no trusted authority signed over this signature inside its window counts for
nothing, and is not an error (sigstore-python and sigstore-go skip it too; a bundle may carry a
timestamp from an authority this trusted root does not list — the real staging-tsa-happy-path
bundle verifies on its SET with two such timestamps); a malformed one is refused. The third-party
``rfc3161_client`` is imported only when a bundle carries timestamps.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sigstack.protocol.errors import VerificationError
from sigstack.protocol.trust import TrustedRoot, in_window

from .certs import load_certificate

MAX_TIMESTAMPS = 32


def _check_shape(stamps: tuple[bytes, ...]) -> None:
    if len(stamps) > MAX_TIMESTAMPS:
        raise VerificationError(
            f"too many signed timestamps in the bundle: {len(stamps)} > {MAX_TIMESTAMPS}"
        )
    if len(set(stamps)) != len(stamps):
        raise VerificationError("the bundle carries a duplicate signed timestamp")


def verified_times(root: TrustedRoot, stamps: tuple[bytes, ...], message: bytes) -> list[datetime]:
    """The ``genTime`` of every timestamp that a trusted TSA signed over ``message``."""
    if not stamps:
        return []
    if not root.timestamp_authorities:
        raise VerificationError(
            "the bundle carries a signed timestamp but the trusted root lists no timestamp "
            "authorities"
        )
    _check_shape(stamps)
    from rfc3161_client import VerificationError as TSAError
    from rfc3161_client import VerifierBuilder, decode_timestamp_response

    authorities = []
    for tsa in root.timestamp_authorities:
        certs = [load_certificate(c, "timestamp authority certificate") for c in tsa.cert_chain]
        if len(certs) < 2:
            continue
        builder = VerifierBuilder().tsa_certificate(certs[0]).add_root_certificate(certs[-1])
        for cert in certs[1:-1]:
            builder = builder.add_intermediate_certificate(cert)
        authorities.append((tsa, builder.build()))
    out = []
    for raw in stamps:
        try:
            response = decode_timestamp_response(raw)
        except ValueError:
            raise VerificationError("a signed timestamp in the bundle is malformed") from None
        for tsa, verifier in authorities:
            try:
                verifier.verify_message(response, message)
            except TSAError:
                continue
            gen_time = response.tst_info.gen_time
            if gen_time.tzinfo is None:
                gen_time = gen_time.replace(tzinfo=UTC)
            if in_window(tsa.valid_for, gen_time):
                out.append(gen_time)
                break
    return out

"""The logs' CA-only switch: with ``trusted_ca_file`` set, Rekor v1 and v2 accept an entry only
when every certificate that verifies it is issued by one of the file's CA certificates (a private
instance that logs its own Fulcio's signatures and nobody else's; docs/rekor.md "Accepting only
your CA's certificates"). Upstream Rekor has no such option: it logs anything that verifies.

What is checked, and what is left to verifiers:

- The file holds one or more PEM CA certificates (BasicConstraints CA:TRUE): Fulcio's chain
  (``fulcio/ca/chain.pem``, ``/api/v1/rootCert``), its root alone, or several CAs' chains.
- An entry's certificate is accepted when one of those certificates issued it
  (``protocol.keys.verify_issued_by``: its issuer name and signature), or issued an intermediate
  the entry itself carries above it (``verifiers.load_verifier`` has checked that each of the
  entry's certificates is signed by the next), with every such intermediate a CA whose path
  length, and the issuing CA's, allow the certificates below it (RFC 5280 section 4.2.1.9).
- Validity periods are not looked at: Fulcio's certificates live ten minutes and a log accepts
  them later; whether the signature was made while the certificate was valid is for verifiers,
  with the entry's integrated time or a timestamp.
- A public-key entry (no certificate) is refused, as is any entry with one verifier that does not
  chain (a DSSE entry's every verifier, an intoto entry's every signature's key).

Refusals are ``ValidationError`` (HTTP 400) with the stable messages ``NOT_ISSUED`` and
``NO_CERTIFICATE``; the log writes nothing. The check runs on the request path, before ``add``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from sigstack.protocol import keys, x509ext
from sigstack.protocol.errors import ConfigError, ValidationError, VerificationError

from .verifiers import Verifier

NOT_ISSUED = (
    "this log accepts only entries whose certificate is issued by its certificate authority"
)
NO_CERTIFICATE = (
    "this log accepts only entries signed with a certificate issued by its certificate "
    "authority, not with a bare public key"
)
MAX_CAS = 64


def _path_length(cert: x509.Certificate) -> tuple[bool, int | None]:
    """(is a CA, its path length constraint) from BasicConstraints; (False, None) without it."""
    try:
        bc = x509ext.extensions(cert).get_extension_for_class(x509.BasicConstraints).value
    except (x509.ExtensionNotFound, ValidationError):
        return False, None
    return bool(bc.ca), bc.path_length


def _allows(path_length: int | None, below: int) -> bool:
    """A CA with ``path_length`` may have ``below`` intermediates under it."""
    return path_length is None or below <= path_length


class TrustedCA:
    """The CA certificates entries must chain to (``check``)."""

    def __init__(self, certificates: Sequence[x509.Certificate], where: str = "trusted_ca_file"):
        if not 1 <= len(certificates) <= MAX_CAS:
            raise ConfigError(f"{where} must hold 1 to {MAX_CAS} PEM CA certificates")
        self.cas: list[tuple[x509.Certificate, int | None]] = []
        for number, cert in enumerate(certificates, 1):
            is_ca, path_length = _path_length(cert)
            if not is_ca:
                raise ConfigError(
                    f"{where}: certificate {number} is not a CA certificate (BasicConstraints "
                    "CA:TRUE); give the CA that issues the signing certificates"
                )
            self.cas.append((cert, path_length))

    @classmethod
    def from_file(cls, path: str | Path) -> TrustedCA:
        where = f"trusted_ca_file {path}"
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
        try:
            certificates = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise ConfigError(f"{where} holds no readable PEM certificate") from None
        return cls(certificates, where)

    def _issued_by_ours(self, cert: x509.Certificate, below: int) -> bool:
        """One of our CAs signed ``cert``, and allows the ``below`` intermediates under it."""
        for ca, path_length in self.cas:
            if not _allows(path_length, below):
                continue
            try:
                keys.verify_issued_by(cert, ca)
            except VerificationError:
                continue
            return True
        return False

    def check_chain(self, chain: Sequence[x509.Certificate]) -> None:
        """``chain`` (leaf first, each certificate already checked to be signed by the next) leads
        to one of our CAs, or ``ValidationError`` (module docstring)."""
        if not chain:
            raise ValidationError(NO_CERTIFICATE)
        for depth, cert in enumerate(chain):
            if depth:  # an intermediate the entry carries: a CA allowing depth - 1 below it
                is_ca, path_length = _path_length(cert)
                if not is_ca or not _allows(path_length, depth - 1):
                    break
            if self._issued_by_ours(cert, depth):
                return
        raise ValidationError(NOT_ISSUED)

    def check(self, verifiers: Sequence[Verifier]) -> None:
        """Every verifier of an entry is a certificate of ours (``check_chain``)."""
        if not verifiers:
            raise ValidationError(NO_CERTIFICATE)
        for verifier in verifiers:
            self.check_chain(verifier.certificates)


def load_trusted_ca(path: str | None) -> TrustedCA | None:
    """The ``trusted_ca_file`` of a log's configuration: None (every entry that verifies is
    accepted, as upstream) or its CA certificates; ``ConfigError`` stops the service at start."""
    return TrustedCA.from_file(path) if path else None


__all__ = ["NOT_ISSUED", "NO_CERTIFICATE", "TrustedCA", "load_trusted_ca"]

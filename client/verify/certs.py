"""Signing-certificate checks: chain to a trusted Fulcio CA at a given time, embedded SCT, key
usage, and the identity policy (SAN and OIDC issuer, exact or regular expression).

Chain building uses pyca/cryptography's RFC 5280 client verifier (WebPKI profile with the EKU rule
relaxed, as sigstore-python does), so CA certificates must be well-formed. A CA of the trusted root
counts only at times inside its ``validFor`` window (closed interval). SCTs are checked per RFC 6962
section 3.2: the precertificate TBS (without the SCT list) and the issuer key hash are what the log
signed. The CT log key named by the SCT's log ID must be valid at the SCT's timestamp and at every
verified signing time, and an SCT whose timestamp is later than the verifier's clock is refused
(RFC 6962 section 5.2: clients must reject SCTs whose timestamp is in the future).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.protocol import keys, x509ext
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.record import record
from sigstack.protocol.sct import precert_signed_data
from sigstack.protocol.trust import TrustedRoot, in_window

from .keys import Keyring

_OTHERNAME_SAN = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.7")


def load_certificate(der: bytes, what: str = "certificate") -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion):
        raise VerificationError(f"the {what} is not a valid DER X.509 certificate") from None


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    """The certificate's extensions; ``VerificationError`` when they do not parse."""
    try:
        return x509ext.extensions(cert)
    except ValidationError as exc:
        raise VerificationError(exc.message) from None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = _extensions(cert).get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return bool(bc.ca)


def check_leaf_usage(cert: x509.Certificate) -> None:
    """KeyUsage digitalSignature and EKU codeSigning, not a CA."""
    if cert.version != x509.Version.v3:
        raise VerificationError("the signing certificate is not an X.509 v3 certificate")
    if _is_ca(cert):
        raise VerificationError("the signing certificate is a CA certificate, not a leaf")
    try:
        ku = _extensions(cert).get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise VerificationError("the signing certificate has no KeyUsage extension") from None
    if not ku.digital_signature:
        raise VerificationError("the signing certificate's KeyUsage lacks digitalSignature")
    try:
        eku = _extensions(cert).get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise VerificationError(
            "the signing certificate has no ExtendedKeyUsage extension"
        ) from None
    if ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise VerificationError("the signing certificate's ExtendedKeyUsage lacks codeSigning")


class ChainVerifier:
    def __init__(self, root: TrustedRoot) -> None:
        self._cas = [
            (ca, [load_certificate(c, "trusted root CA certificate") for c in ca.cert_chain])
            for ca in root.certificate_authorities
        ]
        if not self._cas:
            raise VerificationError("the trusted root lists no certificate authorities")

    def _windows(self) -> str:
        """The CAs' validity windows, for a message: ``start to end`` each (``open`` = no end)."""
        shown = []
        for ca, _certs in self._cas:
            w = ca.valid_for
            end = "open" if w is None or w.end is None else w.end.isoformat()
            shown.append(f"{w.start.isoformat() if w else 'always'} to {end}")
        return "; ".join(shown)

    def verify_at(self, leaf: x509.Certificate, when: datetime) -> list[x509.Certificate]:
        """Build leaf → trusted anchor valid at ``when``; returns the chain above the leaf."""
        from cryptography.x509.verification import (
            Criticality,
            ExtensionPolicy,
            PolicyBuilder,
            Store,
        )
        from cryptography.x509.verification import (
            VerificationError as X509Error,
        )

        anchors = [c for ca, certs in self._cas if in_window(ca.valid_for, when) for c in certs]
        if not anchors:
            raise VerificationError(
                f"no certificate authority of the trusted root was valid at {when.isoformat()} "
                f"(the trusted root's CA windows: {self._windows()}); a signature made before "
                "the trust root's window starts fails here: build the trusted root with "
                "`--valid-from` at or before the first signature (docs/key-ceremony.md)"
            )
        ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
            x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
        )
        ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
        )
        verifier = (
            PolicyBuilder()
            .store(Store(anchors))
            .time(when)
            .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
            .build_client_verifier()
        )
        try:
            return list(verifier.verify(leaf, []).chain[1:])
        except (X509Error, x509.UnsupportedGeneralNameType) as exc:
            raise VerificationError(
                "the signing certificate does not chain to a trusted CA at "
                f"{when.isoformat()}: {exc}"
            ) from None
        except ValueError:  # a name or extension that only parses when the chain is built
            raise VerificationError(
                "the signing certificate is malformed: a name or extension does not parse"
            ) from None


def verify_sct(
    leaf: x509.Certificate,
    chain: list[x509.Certificate],
    ct_keys: Keyring,
    times: Sequence[datetime],
    now: datetime,
) -> None:
    """Exactly one embedded precertificate SCT, not from the future, signed (SHA-256) by the CT
    log key it names, valid at the SCT's timestamp and at every one of ``times``."""
    if not ct_keys:
        raise VerificationError(
            "the trusted root has no CT log keys to check the certificate's SCT"
        )
    try:
        scts = (
            _extensions(leaf)
            .get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
            .value
        )
    except x509.ExtensionNotFound:
        raise VerificationError("the signing certificate carries no embedded SCT") from None
    if len(scts) != 1:
        raise VerificationError(f"expected one embedded SCT, found {len(scts)}")
    sct = scts[0]
    if sct.entry_type != x509.certificate_transparency.LogEntryType.PRE_CERTIFICATE:
        raise VerificationError("the embedded SCT is not for a precertificate")
    if not isinstance(sct.signature_hash_algorithm, hashes.SHA256):
        raise VerificationError("the embedded SCT is not signed with SHA-256")
    if not chain:
        raise VerificationError("no issuer certificate to check the SCT against")
    issuer = chain[0]
    try:
        eku = _extensions(issuer).get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CERTIFICATE_TRANSPARENCY in eku and len(chain) > 1:
            issuer = chain[1]
    except x509.ExtensionNotFound:
        pass
    if not _is_ca(issuer):
        raise VerificationError("the SCT issuer certificate is not a CA")
    issuer_key_hash = keys.key_id(issuer.public_key())
    data = precert_signed_data(_millis(sct), issuer_key_hash, leaf.tbs_precertificate_bytes,
                               sct.extension_bytes)  # fmt: skip
    signed_at = sct.timestamp.replace(tzinfo=UTC)
    if signed_at > now:
        raise VerificationError(
            f"the certificate's SCT is dated {signed_at.isoformat()}, in the future (is this "
            "machine's clock right?)"
        )
    try:
        # RFC 6962 section 2.1.4: SHA-256, whatever hash the key's keyDetails names
        ct_keys.verify(sct.log_id, sct.signature, data, at=[signed_at, *times], hash_name="sha256")
    except VerificationError as exc:
        raise VerificationError(
            f"the certificate's SCT is not signed by a CT log of the trusted root: {exc.message}"
        ) from None


def _millis(sct: x509.certificate_transparency.SignedCertificateTimestamp) -> int:
    ts = sct.timestamp.replace(tzinfo=UTC)
    return int(ts.timestamp()) * 1000 + ts.microsecond // 1000


def certificate_identities(cert: x509.Certificate) -> list[str]:
    """Email, URI and Sigstore username (otherName 57264.1.7) SANs."""
    try:
        san = _extensions(cert).get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out: list[str] = list(san.get_values_for_type(x509.RFC822Name))
    out += san.get_values_for_type(x509.UniformResourceIdentifier)
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id == _OTHERNAME_SAN:
            value = x509ext.parse_der_utf8string(other.value)
            if value is not None:
                out.append(value)
    return out


@record(frozen=True)
class IdentityPolicy:
    """Expected SAN and OIDC issuer; each exact or a regular expression (``re.search``, i.e.
    unanchored like cosign's RE2 ``MatchString`` — anchor with ``^...$`` to match whole)."""

    identity: str | None = None
    identity_regexp: str | None = None
    issuer: str | None = None
    issuer_regexp: str | None = None
    # exact values of Sigstore certificate extensions by protocol.x509ext name, e.g.
    # ("github_workflow_trigger", "push") for cosign's --certificate-github-workflow-trigger
    extensions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if (self.identity is None) == (self.identity_regexp is None):
            raise VerificationError(
                "give exactly one of --certificate-identity and --certificate-identity-regexp"
            )
        if (self.issuer is None) == (self.issuer_regexp is None):
            raise VerificationError(
                "give exactly one of --certificate-oidc-issuer and --certificate-oidc-issuer-regexp"
            )
        for pattern in (self.identity_regexp, self.issuer_regexp):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise VerificationError(
                        f"invalid regular expression {pattern!r}: {exc}"
                    ) from None

    def verify(self, cert: x509.Certificate) -> None:
        issuer = x509ext.oidc_issuer(cert)
        if issuer is None:
            raise VerificationError("the signing certificate has no OIDC issuer extension")
        if self.issuer is not None and issuer != self.issuer:
            raise VerificationError(
                f"the certificate was issued for OIDC issuer {issuer!r}, expected {self.issuer!r}"
            )
        if self.issuer_regexp is not None and not re.search(self.issuer_regexp, issuer):
            raise VerificationError(
                f"the certificate's OIDC issuer {issuer!r} does not match {self.issuer_regexp!r}"
            )
        if self.extensions:
            found = x509ext.decode_extensions(cert)
            for name, want in self.extensions:
                have = found.get(name)
                if have != want:
                    raise VerificationError(
                        f"the certificate's {name.replace('_', ' ')} is {have!r}, expected {want!r}"
                    )
        sans = certificate_identities(cert)
        if self.identity is not None and self.identity not in sans:
            raise VerificationError(
                f"the certificate's identity {', '.join(sans) or '(none)'} "
                f"is not the expected {self.identity!r}"
            )
        if self.identity_regexp is not None and not any(
            re.search(self.identity_regexp, s) for s in sans
        ):
            raise VerificationError(
                f"the certificate's identity {', '.join(sans) or '(none)'} "
                f"does not match {self.identity_regexp!r}"
            )


def verify_signing_certificate(
    leaf: x509.Certificate,
    times: list[datetime],
    chains: ChainVerifier,
    ct_keys: Keyring,
    policy: IdentityPolicy,
    checks: list[str],
    now: datetime,
) -> tuple[list[str], str | None]:
    """Steps 1-3 of the verification order (spec/clients.md section 5): the chain to a trusted CA
    at every verified time, the SCT, key usage and the identity policy. Appends to ``checks`` and
    returns the certificate's identities and OIDC issuer."""
    from sigstack.protocol import x509ext

    chain: list[x509.Certificate] = []
    for when in times:
        chain = chains.verify_at(leaf, when)
    checks.append("The certificate chains to a trusted Fulcio CA at the signing time")
    verify_sct(leaf, chain, ct_keys, times, now)
    checks.append("The certificate's SCT was verified against a trusted CT log")
    check_leaf_usage(leaf)
    policy.verify(leaf)
    checks.append("The certificate's identity and OIDC issuer match the policy")
    return certificate_identities(leaf), x509ext.oidc_issuer(leaf)

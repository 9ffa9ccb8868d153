"""The bundle verifier: the checks of spec/clients.md section 5, in that order, verify or raise.

``Verifier(trusted_root).verify_artifact(bundle, artifact, policy)`` for message signatures and
DSSE envelopes (with an in-toto subject matching the artifact), ``verify_dsse`` for envelopes
without an artifact, ``verify_with_key`` for managed-key bundles. Every failure is a
``VerificationError`` whose message says what did not hold. What this module leaves to others:
reading files and trust sources (``client.trust``), printing (``client.commands``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from sigstack.protocol import keys
from sigstack.protocol.bundle import Bundle, TransparencyLogEntry
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.record import record
from sigstack.protocol.trust import TrustedRoot

from . import timestamps, tlog
from .certs import ChainVerifier, IdentityPolicy, load_certificate, verify_signing_certificate
from .intoto import Statement
from .keys import Keyring

_HASHES = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


# Rekor v1 entry kinds whose SET-signed integrated time counts as a verified time: those
# sigstore-python accepts, and intoto 0.0.2, which sigstore-js' `attest` writes (a Rekor v2 entry
# has no SET; its time comes from RFC 3161 timestamps)
SET_KINDS = frozenset({("hashedrekord", "0.0.1"), ("dsse", "0.0.1"), ("intoto", "0.0.2")})


@record
class Artifact:
    """What was signed: its SHA-256 and, when it is a file, the path (for other digests)."""

    sha256: bytes
    path: str | None = None
    _digests: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str, progress: bool | None = None) -> Artifact:
        from sigstack.client.hashing import hash_file

        return cls(sha256=hash_file(path, "sha256", progress), path=path)

    @classmethod
    def from_digest(cls, text: str) -> Artifact:
        """``sha256:<64 hex>``."""
        algo, _, hexdigest = text.partition(":")
        try:
            raw = bytes.fromhex(hexdigest)
        except ValueError:
            raw = b""
        if algo != "sha256" or len(raw) != 32:
            raise VerificationError(f"{text!r} is not a sha256:<64 hex digits> digest")
        return cls(sha256=raw)

    def digest(self, algorithm: str) -> bytes:
        if algorithm == "sha256":
            return self.sha256
        if algorithm not in self._digests:
            if self.path is None:
                raise VerificationError(
                    f"a {algorithm} digest needs the artifact file, not a digest"
                )
            from sigstack.client.hashing import hash_file

            self._digests[algorithm] = hash_file(self.path, algorithm)
        return self._digests[algorithm]


@record
class VerificationResult:
    """What was verified: the checks in order (for the check list), the signer's identities and
    OIDC issuer, the verified signing times, the log index, and for DSSE the payload (and the
    in-toto statement when an artifact was given); ``to_dict`` is ``--output json``."""

    checks: list[str] = field(default_factory=list)
    identity: list[str] = field(default_factory=list)
    issuer: str | None = None
    times: list[datetime] = field(default_factory=list)
    log_index: int | None = None
    log_url: str | None = None
    payload_type: str | None = None
    payload: bytes | None = None
    statement: Statement | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verified": True,
            "checks": self.checks,
            "identity": self.identity,
            "issuer": self.issuer,
            "signedTimes": [t.isoformat() for t in self.times],
            "logIndex": self.log_index,
            "predicateType": self.statement.predicate_type if self.statement else None,
        }


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _fail_closed(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Malformed material deep inside a certificate or signature (cryptography parses lazily and
    raises ValueError) becomes a VerificationError: verification fails closed, with a reason."""

    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except (ValueError, TypeError, UnicodeDecodeError, OverflowError) as exc:
            raise VerificationError(f"the bundle holds malformed material: {exc}") from None
        except RecursionError:
            raise VerificationError("the bundle holds material nested too deeply") from None

    wrapper.__doc__ = method.__doc__
    wrapper.__name__ = method.__name__
    return wrapper


class Verifier:
    def __init__(self, trusted_root: TrustedRoot, now: datetime | None = None) -> None:
        self.root = trusted_root
        self.now = now or datetime.now(UTC)
        if not trusted_root.tlogs:
            raise VerificationError("the trusted root lists no transparency logs")
        self._rekor = Keyring(trusted_root.tlogs, self.now, "log")
        self._ct = Keyring(trusted_root.ctlogs, self.now, "CT log")
        self._chains: ChainVerifier | None = None

    # -- public entry points -------------------------------------------------------------------

    @_fail_closed
    def verify_artifact(
        self, bundle: Bundle, artifact: Artifact, policy: IdentityPolicy
    ) -> VerificationResult:
        """Keyless: message signature over the artifact, or DSSE with a matching in-toto subject."""
        leaf, result = self._verify_certificate_and_log(bundle, policy)
        self._verify_content(bundle, artifact, leaf.public_key(), leaf, result)
        return result

    @_fail_closed
    def verify_dsse(self, bundle: Bundle, policy: IdentityPolicy) -> VerificationResult:
        """Keyless DSSE without an artifact: returns the payload (caller checks its type)."""
        if bundle.dsse_envelope is None:
            raise VerificationError("the bundle holds no DSSE envelope")
        leaf, result = self._verify_certificate_and_log(bundle, policy)
        self._verify_content(bundle, None, leaf.public_key(), leaf, result)
        return result

    @_fail_closed
    def verify_with_key(
        self, bundle: Bundle, artifact: Artifact | None, key: PublicKeyTypes
    ) -> VerificationResult:
        """Managed key: the log entry and signature, no certificate or identity."""
        result = VerificationResult()
        entry = self._structure(bundle, keyless=False)
        self._establish_time(bundle, entry, result)
        self._verify_log(entry, result)
        self._verify_content(bundle, artifact, key, key, result)
        return result

    # -- steps ---------------------------------------------------------------------------------

    def _structure(self, bundle: Bundle, keyless: bool) -> TransparencyLogEntry:
        """The client's rules on bundle shape (on top of protocol.bundle's parser)."""
        vm = bundle.verification_material
        if keyless:
            if vm.public_key_hint is not None:
                raise VerificationError(
                    "the bundle is signed with a managed key; verify it with --key"
                )
            if bundle.version == "0.3" and vm.certificate is None:
                raise VerificationError("a v0.3 bundle must carry a single leaf certificate")
            if bundle.version != "0.3" and vm.x509_certificate_chain is None:
                raise VerificationError(
                    f"a v{bundle.version} bundle must carry an x509CertificateChain"
                )
        if len(vm.tlog_entries) != 1:
            raise VerificationError(
                f"expected exactly one transparency log entry in the bundle, found "
                f"{len(vm.tlog_entries)}"
            )
        entry = vm.tlog_entries[0]
        if entry.kind_version.version not in ("0.0.1", "0.0.2"):
            raise VerificationError(
                f"unsupported log entry version {entry.kind_version.version} (0.0.1 or 0.0.2)"
            )
        if entry.inclusion_proof is None or not entry.inclusion_proof.checkpoint:
            raise VerificationError(
                "the log entry must contain an inclusion proof with a checkpoint (old bundles: "
                "refresh them against the log)"
            )
        if bundle.version == "0.1":
            if not entry.inclusion_promise:
                raise VerificationError("a v0.1 bundle must contain an inclusion promise (SET)")
        elif not entry.inclusion_promise and not vm.rfc3161_timestamps:
            raise VerificationError(
                "the bundle has no source of signed time: neither an inclusion promise nor a "
                "signed timestamp"
            )
        return entry

    def _establish_time(
        self, bundle: Bundle, entry: TransparencyLogEntry, result: VerificationResult
    ) -> list[datetime]:
        """Step 0: the verified times. Signed timestamps from trusted TSAs, then the integrated
        time, which counts only once its SET verified (``tlog.integrated_time``); a signed time
        after ``now`` is refused rather than believed."""
        vm = bundle.verification_material
        times = timestamps.verified_times(self.root, vm.rfc3161_timestamps, bundle.signature)
        for when in times:
            if when > self.now:
                raise VerificationError(
                    f"a signed timestamp is dated {when.isoformat()}, in the future (is this "
                    "machine's clock right?)"
                )
        if times:
            result.checks.append(f"{len(times)} signed timestamp(s) verified against a trusted TSA")
        if entry.inclusion_promise:
            kv = entry.kind_version
            if (kv.kind, kv.version) not in SET_KINDS:
                raise VerificationError(
                    "an integrated time is only supported for Rekor v1 entries (hashedrekord and "
                    f"dsse 0.0.1, intoto 0.0.2), not {kv.kind} {kv.version}"
                )
            times.append(tlog.integrated_time(entry, self._rekor, list(times), self.now))
        if not times:
            raise VerificationError("not enough sources of verified time (need at least one)")
        result.times = times
        return times

    def _verify_certificate_and_log(
        self, bundle: Bundle, policy: IdentityPolicy
    ) -> tuple[x509.Certificate, VerificationResult]:
        result = VerificationResult()
        entry = self._structure(bundle, keyless=True)
        raw_leaf = bundle.verification_material.leaf_certificate
        assert raw_leaf is not None
        leaf = load_certificate(raw_leaf, "signing certificate")
        times = self._establish_time(bundle, entry, result)
        # 1-3. chain at every verified time, SCT, identity
        if self._chains is None:
            self._chains = ChainVerifier(self.root)
        result.identity, result.issuer = verify_signing_certificate(
            leaf, times, self._chains, self._ct, policy, result.checks, self.now
        )
        # 4. log entry
        self._verify_log(entry, result)
        # 5. every signed time within the leaf's validity
        for when in times:
            if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
                raise VerificationError(
                    f"the signing certificate was not valid at the signed time {when.isoformat()}"
                )
        return leaf, result

    def _verify_log(self, entry: TransparencyLogEntry, result: VerificationResult) -> None:
        tlog.verify_entry(entry, self._rekor, result.times)
        result.log_index = entry.log_index
        what = "inclusion proof and signed checkpoint"
        if entry.inclusion_promise:
            what += ", and inclusion promise (SET)"
        result.checks.append(f"The transparency log entry was verified: {what}")

    def _verify_content(
        self,
        bundle: Bundle,
        artifact: Artifact | None,
        key: PublicKeyTypes,
        signer: tlog.SignerMaterial,
        result: VerificationResult,
    ) -> None:
        entry = bundle.verification_material.tlog_entries[0]
        if bundle.message_signature is not None:
            if artifact is None:
                raise VerificationError("a message-signature bundle needs the artifact to verify")
            ms = bundle.message_signature
            algo_name = ms.message_digest.algorithm if ms.message_digest else "SHA2_256"
            if algo_name not in _HASHES:
                raise VerificationError(f"unsupported message digest algorithm {algo_name}")
            hashlib_name = _HASHES[algo_name]
            digest = artifact.digest(hashlib_name)
            if ms.message_digest is not None and ms.message_digest.digest != digest:
                raise VerificationError("the bundle's message digest does not match the artifact")
            _verify_prehashed(key, ms.signature, digest, hashlib_name, artifact)
            result.checks.append("The signature over the artifact was verified")
            tlog.check_hashedrekord(entry, signer, ms.signature, artifact.sha256)
            result.checks.append("The log entry records this artifact, signature and signer")
            return
        env = bundle.dsse_envelope
        assert env is not None
        if len(env.signatures) != 1:
            raise VerificationError("the DSSE envelope must hold exactly one signature")
        pae = env.pae()
        _verify_prehashed(
            key, env.signatures[0].sig, hashlib.sha256(pae).digest(), "sha256", None, pae
        )
        result.checks.append("The DSSE envelope signature was verified")
        tlog.check_dsse(entry, signer, env)
        result.checks.append("The log entry records this envelope and signer")
        result.payload_type, result.payload = env.payload_type, env.payload
        if artifact is not None:
            statement = Statement.from_payload(env.payload_type, env.payload)
            statement.require_subject(artifact.sha256.hex())
            result.statement = statement
            result.checks.append("The artifact's digest is a subject of the in-toto statement")


def _verify_prehashed(
    key: PublicKeyTypes,
    signature: bytes,
    digest: bytes,
    hash_name: str,
    artifact: Artifact | None,
    message: bytes | None = None,
) -> None:
    """The signature by ``key`` over ``digest`` (a ``hash_name`` digest), with the registry's
    algorithm for that key and hash. An Ed25519 key signs the message itself (``message``, or the
    artifact file), as sigstore-python verifies it."""
    if isinstance(key, ed25519.Ed25519PublicKey):
        if message is None:
            if artifact is None or artifact.path is None:
                raise VerificationError("an Ed25519 signature needs the artifact file itself")
            with open(artifact.path, "rb") as fh:
                message = fh.read()
        algorithm, prehashed = keys.ALGORITHMS["PKIX_ED25519"], False
    else:
        try:
            algorithm = keys.Algorithm.for_key(key, hash_name)
        except ValidationError as exc:
            raise VerificationError(f"unsupported signing key: {exc.message}") from None
        message, prehashed = digest, True
    try:
        keys.verify(key, signature, message, algorithm, prehashed=prehashed)
    except VerificationError as exc:
        raise VerificationError(
            f"the signature is not valid for the input: {exc.message}"
        ) from None

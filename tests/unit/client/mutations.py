"""A generator of mutated Sigstore bundles, every one of which the verifier must refuse
(docs/ARCHITECTURE.md rule 9: adversarial vectors come from a committed generator; security
review, issue 11 section 3). ``tests/unit/client/test_mutations.py`` runs all of them.

Seeds are bundles that verify: real ones from tests/data (Rekor v1 hashedrekord in v0.1, v0.2
and v0.3 bundles, Rekor v2 with an RFC 3161 timestamp, DSSE on Rekor v2, a Rekor v1 bundle
carrying timestamps) and ones the throw-away instance of ``kit`` signs (hashedrekord, dsse 0.0.1,
a managed key). From each seed, first-order mutations of its JSON (``mutations_json``):

* every node dropped and set to null, every leaf given the wrong type;
* every byte field (base64) with a bit flipped at several places, cut, extended, emptied, or not
  base64; every integer moved (+-1, zero, negative, out of range; integrated times by a day and
  ten years), every enum-like string changed; list items duplicated, reversed, added;
* the checkpoint note changed line by line (origin, size, root, extension, signature, key hint,
  key name, extra signature lines);
* fields grafted from the other seeds (a proof, checkpoint, SET, body, certificate, signature,
  envelope, timestamps from another bundle of the same instance or another);
* the same document in other spellings (whitespace, key order, snake_case, URL-safe base64,
  numbers for int64) and with the same key twice.

``mutations_signed`` adds mutations that keep every signature valid (re-signed with the kit's
keys: times moved, bodies for something else, rogue logs and CAs) and trusted-root mutations.

This module holds the seeds, the runner and the allow-list. Some mutations change nothing the
verifier relies on. They are listed in ``ALLOWED`` with the
reason, and the test holds them to it: an allowed mutant must still verify with exactly the seed's
verified times (or, where marked, may also be refused) — so the list cannot hide a refusal that
went missing, and a stricter verifier shows up as an entry to delete.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sigstack.client.verify import Artifact, IdentityPolicy, VerificationResult, Verifier
from sigstack.protocol.bundle import (
    MEDIA_TYPE_V01,
    MEDIA_TYPE_V02,
    Bundle,
)
from sigstack.protocol.trust import TrustedRoot
from tests.support.testdata import TESTDATA

from .kit import IDENTITY, ISSUER, Kit

CASES = TESTDATA / "pyassets" / "cases"
REAL_SEEDS = {
    "v01": "staging-v0.1-happy-path",
    "v02-wheel": "production-v0.2-github-actions-wheel",
    "v03": "staging-v0.3-happy-path",
    "rekor2": "staging-rekor-v2-happy-path",
    "rekor2-dsse": "staging-rekor-v2-dsse-happy-path",
    "tsa": "staging-tsa-happy-path",
}
KIT_DATA = b"mutated\n"

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Seed:
    """A bundle that verifies, and how: against ``root``, for ``artifact``, with ``policy`` (or
    the managed ``key``), at ``now`` (default: the real clock)."""

    name: str
    doc: dict[str, Any]
    root: TrustedRoot
    artifact: Artifact
    policy: IdentityPolicy | None = None
    key: Any = None
    now: datetime | None = None
    parent: Seed | None = None  # the seed this one changes the trusted root of

    def verify(self, bundle: Bundle) -> VerificationResult:
        verifier = Verifier(self.root, now=self.now)
        if self.key is not None:
            return verifier.verify_with_key(bundle, self.artifact, self.key)
        assert self.policy is not None
        return verifier.verify_artifact(bundle, self.artifact, self.policy)

    @property
    def entry(self) -> dict[str, Any]:
        return self.doc["verificationMaterial"]["tlogEntries"][0]  # type: ignore[no-any-return]

    @property
    def has_set(self) -> bool:
        return "inclusionPromise" in self.entry

    @property
    def version(self) -> str:
        return {MEDIA_TYPE_V01: "0.1", MEDIA_TYPE_V02: "0.2"}.get(self.doc["mediaType"], "0.3")


@dataclass(frozen=True)
class Mutant:
    seed: Seed
    op: str
    path: Path
    text: bytes
    allowed: Allowed | None = None

    @property
    def id(self) -> str:
        return f"{self.seed.name}:{self.op}:{dotted(self.path)}"


@dataclass(frozen=True)
class Allowed:
    """A neutral mutation: ``ops`` (name prefixes) at paths matching ``path``, for seeds where
    ``when`` holds, must verify with the seed's verified times (``or_refused``: or be refused)."""

    ops: tuple[str, ...]
    path: str
    reason: str
    when: Callable[[Seed], bool] = lambda seed: True
    or_refused: bool = False

    def covers(self, seed: Seed, op: str, path: Path) -> bool:
        return (
            any(op == o or op.startswith(o + "-") for o in self.ops)
            and re.fullmatch(self.path, dotted(path)) is not None
            and self.when(seed)
        )


_TIMESTAMP_PATHS = r"verificationMaterial\.timestampVerificationData(\..*)?"
_STRING_CHANGES = ("change", "empty", "drop", "null", "add")
_KEYLESS_ROOT = ("root-retire-ctlogs", "root-retire-cas", "root-no-ctlogs", "root-no-cas",
                 "root-other-ctlogs", "root-other-cas")  # fmt: skip

ALLOWED: tuple[Allowed, ...] = (
    Allowed(("reformat", "reorder", "snake-case", "base64url", "int-as-number"), "",
            "the same document in another legal proto3 JSON spelling"),
    Allowed(("unknown-field",), ".*",
            "proto3 JSON discards unknown fields; nothing the verifier reads changed"),
    Allowed(("drop", "null"), r"messageSignature\.messageDigest",
            "messageDigest restates the artifact's digest; the verifier hashes the artifact itself "
            "and checks the signature over that (SHA-256 when the field is absent, as "
            "sigstore-python does)"),
    Allowed(_STRING_CHANGES, r"dsseEnvelope\.signatures\.0\.keyid",
            "a DSSE keyid is an unsigned hint (DSSE protocol); the key is the certificate's"),
    Allowed(_STRING_CHANGES, r"verificationMaterial\.publicKey\.hint",
            "the hint names the key for people; verify_with_key is given the key itself"),
    Allowed(("dup",), r"verificationMaterial\.x509CertificateChain\.certificates\.\d+",
            "certificates after the leaf are not trusted material: the chain is built from the "
            "trusted root's CAs alone (sigstore-python reads only the leaf too)"),
    Allowed(("append-junk",), r"verificationMaterial\.x509CertificateChain\.certificates",
            "certificates after the leaf are not read (see above)"),
    Allowed(("add", "graft"), r"verificationMaterial\.tlogEntries\.0\.integratedTime",
            "an integrated time without an inclusion promise is signed by nobody and is not a "
            "verified time (spec/clients.md section 5, step 0)",
            when=lambda seed: not seed.has_set),
    Allowed(("mediatype-v03-alt", "mediatype-v03"), "mediaType",
            "both spellings of the v0.3 media type name the same format",
            when=lambda seed: seed.version == "0.3"),
    Allowed(("mediatype-v01", "mediatype-v02"), "mediaType",
            "v0.1 and v0.2 differ only in what they require (v0.1 a SET, both a certificate "
            "chain; a proof with checkpoint is required here for both); this bundle has all, and "
            "the media type is not signed",
            when=lambda seed: seed.version in ("0.1", "0.2")),
    Allowed(("mediatype-v01", "mediatype-v02"), "mediaType",
            "a managed-key bundle has no certificate, the one thing the versions' rules differ "
            "on besides the SET (v0.1), which it has",
            when=lambda seed: seed.key is not None),
    Allowed(("checkpoint-keyname",), r".*\.checkpoint\.envelope",
            "the key name on a note's signature line is not signed and, by Rekor's rule (which "
            "sigstore-python follows), not checked: the 4-byte key hint picks the key"),
    Allowed(("checkpoint-cosignature",), r".*\.checkpoint\.envelope",
            "a signature line from an unknown key (a witness cosignature) is ignored, as C2SP "
            "signed notes require; the real Rekor v2 DSSE seed carries one"),
    Allowed(("checkpoint-signature-twice",), r".*\.checkpoint\.envelope",
            "the log's own valid signature line repeated: every line with the log's key hint is "
            "verified (protocol.note.verify_rekor_checkpoint) and both verify; the signed text "
            "is unchanged"),
    Allowed(("*",), _TIMESTAMP_PATHS,
            "the SET gives this bundle its verified time; a well-formed timestamp that no trusted "
            "TSA signed over this signature counts for nothing, as in sigstore-python (the real "
            "tsa seed carries two such), while a malformed one is refused — so: refused, or "
            "verified with exactly the seed's verified times",
            when=lambda seed: seed.has_set, or_refused=True),
    Allowed(("root-retire-tsas",), "",
            "no timestamp of this bundle counts (the SET gives the time): verified with exactly "
            "the seed's verified times, or the test fails",
            when=lambda seed: seed.has_set),
    Allowed(("root-no-tsas",), "",
            "the bundle carries no timestamp, so a root without TSAs changes nothing (one that "
            "carries timestamps is refused against such a root)",
            when=lambda seed: seed.has_set and not _stamps(seed)),
    Allowed(_KEYLESS_ROOT, "",
            "a managed-key bundle has no certificate: CAs and CT logs play no part",
            when=lambda seed: seed.key is not None),
)  # fmt: skip


def _stamps(seed: Seed) -> list[Any]:
    tsd = seed.doc["verificationMaterial"].get("timestampVerificationData") or {}
    return tsd.get("rfc3161Timestamps") or []  # type: ignore[no-any-return]


def allowed_for(seed: Seed, op: str, path: Path) -> Allowed | None:
    for rule in ALLOWED:
        if rule.covers(seed, op, path) or ("*" in rule.ops and rule.covers(seed, "*", path)):
            return rule
    return None


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


# -- seeds ----------------------------------------------------------------------------------


def real_seeds() -> list[Seed]:
    out = []
    for name, case in REAL_SEEDS.items():
        where = CASES / case
        if (where / "digest").exists():
            digest = bytes.fromhex((where / "digest").read_text().strip().partition(":")[2])
        else:
            artifact = where / "artifact" if (where / "artifact").exists() else CASES / "a.txt"
            digest = hashlib.sha256(artifact.read_bytes()).digest()
        policy = IdentityPolicy(
            identity=(where / "identity").read_text().strip(),
            issuer=(where / "issuer").read_text().strip(),
        )
        out.append(Seed(name, json.loads((where / "bundle.sigstore.json").read_text()),
                        TrustedRoot.from_file(str(where / "trusted_root.json")),
                        Artifact(digest), policy))  # fmt: skip
    return out


def kit_seeds(kit: Kit) -> list[Seed]:
    digest = hashlib.sha256(KIT_DATA).digest()
    policy = IdentityPolicy(identity=IDENTITY, issuer=ISSUER)
    root = kit.trusted_root()
    statement = {"_type": "https://in-toto.io/Statement/v1",
                 "subject": [{"name": "m", "digest": {"sha256": digest.hex()}}],
                 "predicateType": "https://slsa.dev/provenance/v1", "predicate": {"a": [1]}}  # fmt: skip
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return [
        Seed("kit-hashedrekord", kit.sign_blob(KIT_DATA)[0].to_dict(), root, Artifact(digest), policy),
        Seed("kit-dsse", kit.attest(statement).to_dict(), root, Artifact(digest), policy),
        Seed("kit-key", kit.sign_with_key(KIT_DATA, key).to_dict(), root, Artifact(digest),
             key=key.public_key()),
    ]  # fmt: skip


def nodes(doc: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every node below the root, parents before children."""
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in items:
        yield (*path, key), value
        yield from nodes(value, (*path, key))


@dataclass
class Outcome:
    refused: list[Mutant] = field(default_factory=list)
    accepted: list[tuple[Mutant, VerificationResult]] = field(default_factory=list)
    crashed: list[tuple[Mutant, str]] = field(default_factory=list)


def run(mutants: list[Mutant]) -> Outcome:
    """Parse and verify each mutant: refused (``ValidationError`` from the parser,
    ``VerificationError`` from the verifier), accepted, or crashed (any other exception)."""
    from sigstack.protocol.errors import ValidationError, VerificationError

    outcome = Outcome()
    for mutant in mutants:
        try:
            bundle = Bundle.from_json(mutant.text)
        except ValidationError:
            outcome.refused.append(mutant)
            continue
        except Exception as exc:  # noqa: BLE001 - reported, never swallowed
            outcome.crashed.append((mutant, f"parse: {type(exc).__name__}: {exc}"))
            continue
        try:
            result = mutant.seed.verify(bundle)
        except VerificationError:
            outcome.refused.append(mutant)
        except Exception as exc:  # noqa: BLE001
            outcome.crashed.append((mutant, f"verify: {type(exc).__name__}: {exc}"))
        else:
            outcome.accepted.append((mutant, result))
    return outcome


def with_root(seed: Seed, name: str, root: TrustedRoot) -> Seed:
    return replace(seed, name=f"{seed.name}+{name}", root=root, parent=seed)

"""In-toto statements carried in DSSE envelopes: parse leniently, match subjects by digest.

Statement v1 (``https://in-toto.io/Statement/v1``) and v0.1 are accepted; a subject needs a
``digest`` map but not a ``name`` (cosign v3 image signatures have nameless subjects). Callers
parse a statement only after its envelope's signature verified; the payload is decoded with
``protocol.protojson.parse_json`` (malformed or too deeply nested JSON is a refusal).
"""

from __future__ import annotations

import json
from typing import Any

from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.protocol.protojson import parse_json
from sigstack.protocol.record import record

STATEMENT_TYPES = ("https://in-toto.io/Statement/v1", "https://in-toto.io/Statement/v0.1")
PAYLOAD_TYPE = "application/vnd.in-toto+json"


@record(frozen=True)
class Subject:
    name: str | None
    digest: dict[str, str]


@record(frozen=True)
class Statement:
    type: str
    predicate_type: str
    subjects: tuple[Subject, ...]
    predicate: Any

    @classmethod
    def from_payload(cls, payload_type: str, payload: bytes) -> Statement:
        if payload_type != PAYLOAD_TYPE:
            raise VerificationError(
                f"the DSSE payload type is {payload_type!r}, expected {PAYLOAD_TYPE!r}"
            )
        try:
            obj = parse_json(payload, "the DSSE payload")
        except ValidationError as exc:
            raise VerificationError(f"{exc.message}: not an in-toto statement") from None
        if not isinstance(obj, dict) or obj.get("_type") not in STATEMENT_TYPES:
            raise VerificationError("the DSSE payload is not an in-toto statement")
        raw_subjects = obj.get("subject")
        if not isinstance(raw_subjects, list) or not raw_subjects:
            raise VerificationError("the in-toto statement has no subjects")
        subjects = []
        for item in raw_subjects:
            if not isinstance(item, dict) or not isinstance(item.get("digest"), dict):
                raise VerificationError("an in-toto subject has no digest map")
            name = item.get("name")
            digest = {str(k).lower(): str(v).lower() for k, v in item["digest"].items()}
            subjects.append(Subject(name if isinstance(name, str) else None, digest))
        predicate_type = obj.get("predicateType")
        return cls(
            type=obj["_type"],
            predicate_type=predicate_type if isinstance(predicate_type, str) else "",
            subjects=tuple(subjects),
            predicate=obj.get("predicate"),
        )

    def require_subject(self, sha256_hex: str) -> Subject:
        for subject in self.subjects:
            if subject.digest.get("sha256") == sha256_hex.lower():
                return subject
        raise VerificationError(
            f"no subject of the in-toto statement has the artifact's digest sha256:{sha256_hex}"
        )


def make_statement(subjects: list[tuple[str, str]], predicate_type: str, predicate: Any) -> bytes:
    """An in-toto v1 statement over ``(name, sha256 hex)`` subjects, as compact JSON bytes."""
    body = {
        "_type": STATEMENT_TYPES[0],
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in subjects],
        "predicateType": predicate_type,
        "predicate": predicate,
    }
    return json.dumps(body, separators=(",", ":")).encode()

"""``prepare_entry`` on in-toto payloads the submitter signed: a statement whose ``subject`` or
``materials`` is not a list is logged with fewer index keys, not a 500 (``TypeError: 'bool'
object is not iterable``; found by fuzzing)."""

from __future__ import annotations

import json

from sigstack.services.rekor.types import prepare_entry
from tests.support.entries import dsse, intoto


def _statement(subject: object, materials: object) -> bytes:
    return json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": subject,
                       "predicate": {"materials": materials}}).encode()  # fmt: skip


def test_statement_fields_of_another_type_give_no_index_keys() -> None:
    good = [{"digest": {"sha256": "ab" * 32}}]
    for make in (dsse, intoto):
        keys = prepare_entry(make(_statement(good, None))).index_keys
        assert "sha256:" + "ab" * 32 in keys
        for subject, materials in ((True, None), (good[0], 5), (None, True), ("x", {"a": 1})):
            prepared = prepare_entry(make(_statement(subject, materials)))
            assert "sha256:" + "ab" * 32 not in prepared.index_keys

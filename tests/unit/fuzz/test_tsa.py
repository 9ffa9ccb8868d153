"""Fuzzing the timestamp authority's request parsers (services.tsa.request): only
``protocol.errors.Error`` escapes.

Entry points: ``parse_der`` (an RFC 3161 ``TimeStampReq``) and ``parse_json`` (the JSON form of
sigstore/timestamp-authority), each followed by ``TimestampAuthority.timestamp`` on what they
accepted (the answer echoes the imprint, nonce and policy). Seeds: DER and JSON requests for
every accepted hash, with and without nonce, policy and certReq (tests/unit/tsa/helpers.py).
"""

from __future__ import annotations

import base64
import functools
import json
import tempfile
from pathlib import Path

from sigstack.services.tsa.authority import TimestampAuthority
from sigstack.services.tsa.request import parse_der, parse_json
from tests.unit.tsa.helpers import der_request, dev_chain

from .core import Target, property_tests

SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


@functools.cache
def _folder() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="sigstack-fuzz-tsa-")  # removed at exit


@functools.cache
def authority() -> TimestampAuthority:
    chain = dev_chain(Path(_folder().name), intermediate=True)
    return TimestampAuthority(chain.signer(), chain.certs)


@functools.cache
def der_seeds() -> list[bytes]:
    out = [der_request(b"\x01" * n, name) for name, n in SIZES.items()]
    out.append(der_request(b"\x02" * 32, nonce=2**70, cert_req=True, policy="1.2.3.4"))
    return out


@functools.cache
def json_seeds() -> list[bytes]:
    docs = [{"artifactHash": base64.b64encode(b"\x03" * n).decode(), "hashAlgorithm": name}
            for name, n in SIZES.items()]  # fmt: skip
    docs.append({**docs[0], "certificates": True, "nonce": 123456789, "tsaPolicyOID": "1.2.3"})
    return [json.dumps(d).encode() for d in docs]


TARGETS = [
    Target("parse_der -> timestamp", lambda d: authority().timestamp(parse_der(d)), der_seeds),
    Target("parse_json -> timestamp", lambda d: authority().timestamp(parse_json(d)), json_seeds),
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=150, mutated=700)

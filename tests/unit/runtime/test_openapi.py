"""Each service's OpenAPI document (``services/<name>/openapi.json``) is a valid OpenAPI 3.0
document, is served at ``GET /openapi.json``, and describes exactly the routes the service's Flask
app really has: every route (and method) of the app is documented and every documented path and
method reaches a route. The error body the document names is the one the service answers with.

The fuzz tests (tests/integration/fuzz) generate their requests from these documents, so a route
left out here would go unfuzzed.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft4Validator
from openapi_spec_validator import validate
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from tests.support.testdata import ROOT

SERVICES = ROOT / "services"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
IMPLICIT = {"HEAD", "OPTIONS"}  # added by Flask to every GET route / every route


def _rekor(tmp: Path) -> Flask:
    from sigstack.services.keys import create_file_key
    from sigstack.services.rekor.app import create_app
    from sigstack.services.rekor.config import RekorConfig
    from sigstack.services.runtime import db

    url = db.sqlite_url(tmp / "rekor.db")
    db.upgrade(url)
    create_file_key(tmp / "key.pem")
    return create_app(RekorConfig(database_url=url, key_uri=f"file:{tmp / 'key.pem'}",
                                  hostname="rekor.test", create=True))  # fmt: skip


def _ctlog(tmp: Path) -> Flask:
    from sigstack.services.ctlog.app import create_app
    from sigstack.services.ctlog.config import CTLogConfig
    from sigstack.services.fulcio.cli import create_ca
    from sigstack.services.keys import create_file_key
    from sigstack.services.runtime import db

    paths = create_ca(tmp / "ca", algorithm="ecdsa-p256")
    url = db.sqlite_url(tmp / "ct.db")
    db.upgrade(url)
    create_file_key(tmp / "key.pem")
    return create_app(CTLogConfig(database_url=url, key_uri=f"file:{tmp / 'key.pem'}",
                                  roots_file=str(paths["root.pem"]), create=True))  # fmt: skip


def _fulcio(tmp: Path) -> Flask:
    from sigstack.services.fulcio.app import create_app
    from sigstack.services.fulcio.config import FulcioConfig

    config = {"OIDCIssuers": {"https://issuer.test": {"Type": "email"}}, "ca_key": "ephemeral:"}
    return create_app(FulcioConfig.from_mapping(config))


def _oidc(tmp: Path) -> Flask:
    from sigstack.services.oidc.app import create_app
    from sigstack.services.oidc.config import OIDCConfig
    from sigstack.services.oidc.datadir import prepare_data_dir

    config = OIDCConfig.load(flags={"data_dir": str(tmp / "oidc"),
                                    "issuer_url": "http://127.0.0.1:5556"}, environ={})  # fmt: skip
    return create_app(config, prepare_data_dir(config))


def _tuf(tmp: Path) -> Flask:
    from sigstack.services.tuf.app import create_app
    from sigstack.services.tuf.config import TUFConfig
    from sigstack.services.tuf.repo import Repository

    Repository(tmp / "repo").init(tmp / "offline")
    return create_app(TUFConfig(data_dir=str(tmp / "repo")))


def _rekor2(tmp: Path) -> Flask:
    from sigstack.services.keys import create_file_key
    from sigstack.services.rekor2.app import create_app
    from sigstack.services.rekor2.config import Rekor2Config
    from sigstack.services.runtime import db

    url = db.sqlite_url(tmp / "rekor2.db")
    db.upgrade(url)
    create_file_key(tmp / "key.pem")
    return create_app(Rekor2Config(database_url=url, key_uri=f"file:{tmp / 'key.pem'}",
                                   origin="rekor2.test", create=True))  # fmt: skip


def _tsa(tmp: Path) -> Flask:
    from sigstack.services.tsa.app import create_app
    from sigstack.services.tsa.certs import create_chain
    from sigstack.services.tsa.config import TSAConfig

    paths = create_chain(tmp / "chain")
    return create_app(TSAConfig(key_uri=f"file:{paths['leaf-key.pem']}",
                                chain_file=str(paths["chain.pem"])))  # fmt: skip


def _witness(tmp: Path) -> Flask:
    from tests.unit.witness.helpers import TestLog, witness_app

    return witness_app(tmp, TestLog("log.example/openapi").grow(3))


BUILDERS: dict[str, Callable[[Path], Flask]] = {
    "rekor": _rekor,
    "rekor2": _rekor2,
    "tsa": _tsa,
    "ctlog": _ctlog,
    "fulcio": _fulcio,
    "oidc": _oidc,
    "tuf": _tuf,
    "witness": _witness,
}
# The schema of the error body each service answers with (runtime.errors formatters).
ERROR_SCHEMA = {
    "rekor": "Error",
    "rekor2": "Status",
    "tsa": "Error",
    "ctlog": "Error",
    "fulcio": "Status",
    "oidc": "OAuthError",
    "tuf": "Error",
    "witness": "Error",
}


def document(name: str) -> dict[str, Any]:
    return json.loads((SERVICES / name / "openapi.json").read_text())


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def instantiate(path: str) -> str:
    """A concrete URL path for a documented path template (any value fits a Flask converter)."""
    return re.sub(r"\{[^}/]+\}", "1", path)


@pytest.fixture(params=sorted(BUILDERS))
def service(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Flask]:
    return request.param, BUILDERS[request.param](tmp_path)


def test_the_document_is_valid_openapi(service: tuple[str, Flask]) -> None:
    name, _ = service
    doc = document(name)
    validate(doc)
    assert doc["openapi"].startswith("3.0.")
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    for method, path, op in operations(doc):
        # a success: an answer, or for a redirect-only step (the OIDC upstream callback) a 302
        assert any(code[0] in "23" for code in op["responses"]), (method, path)
        params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert params == set(re.findall(r"\{([^}]+)\}", path)), (method, path)


def test_every_route_is_documented_and_every_documented_path_exists(
    service: tuple[str, Flask],
) -> None:
    name, app = service
    adapter = app.url_map.bind("localhost")
    reached: set[tuple[str, str]] = set()
    missing = []
    for method, path, _ in operations(document(name)):
        try:
            rule, _args = adapter.match(instantiate(path), method, return_rule=True)
        except (NotFound, MethodNotAllowed, RequestRedirect):
            missing.append(f"{method} {path}")
            continue
        reached.add((method, rule.rule))
    assert not missing, f"documented but not served by {name}: {missing}"
    served = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - IMPLICIT
    }
    undocumented = sorted(served - reached)
    assert not undocumented, f"served by {name} but not documented: {undocumented}"


def test_the_document_is_served_and_names_the_error_body(service: tuple[str, Flask]) -> None:
    name, app = service
    client = app.test_client()
    served = client.get("/openapi.json")
    assert served.status_code == 200
    assert served.mimetype == "application/json"
    assert served.data == (SERVICES / name / "openapi.json").read_bytes()
    schema = document(name)["components"]["schemas"][ERROR_SCHEMA[name]]
    for resp in (client.get("/no/such/route"), client.delete("/openapi.json")):
        assert resp.status_code in (404, 405)
        Draft4Validator(schema).validate(resp.get_json())


# JSON timestamp requests the TSA grants, at the edges of what the document says.
_DIGEST = base64.b64encode(b"\x01" * 32).decode()
TSA_GRANTED = [
    {"artifactHash": _DIGEST, "hashAlgorithm": "SHA256"},
    {"artifactHash": _DIGEST, "hashAlgorithm": "sha256", "tsaPolicyOID": ""},
    {"artifactHash": _DIGEST, "hashAlgorithm": "sha256", "tsaPolicyOID": None, "nonce": None,
     "certificates": None},
    {"artifactHash": base64.b64encode(b"\x01" * 64).decode(), "hashAlgorithm": "sha512",
     "nonce": -(2**70), "tsaPolicyOID": "1.3.6.1.4.1.57264.2", "extra": [1]},
]  # fmt: skip


@pytest.mark.parametrize("body", TSA_GRANTED)
def test_what_the_tsa_grants_fits_its_documented_request(
    body: dict[str, Any], tmp_path: Path
) -> None:
    """An empty or null policy, a null nonce or certReq are taken as absent (as upstream's Go
    decoding does): the document must allow them, else a client following it could not send
    them and the fuzzer's negative cases expect a refusal."""
    from openapi_schema_validator import OAS30Validator

    resp = _tsa(tmp_path).test_client().post("/api/v1/timestamp", json=body)
    assert resp.status_code == 200, resp.get_json()
    OAS30Validator(document("tsa")["components"]["schemas"]["TimestampRequest"]).validate(body)

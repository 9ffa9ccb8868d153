"""The runtime's one error mapping keeps what HTTP requires of an error answer."""

from __future__ import annotations

from flask import Flask

from sigstack.services.runtime.app import create_app


def _app() -> Flask:
    def register(app: Flask) -> None:
        app.add_url_rule("/thing", "thing", lambda: "ok", methods=["GET", "POST"])

    return create_app("test", {}, register)


def test_405_names_the_allowed_methods() -> None:
    # RFC 9110 section 15.5.6: a 405 MUST carry Allow (found by the fuzz tests: schemathesis'
    # unsupported_method check); the body stays the service's error format.
    resp = _app().test_client().delete("/thing")
    assert resp.status_code == 405
    assert set(resp.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert resp.get_json() == {"code": 405, "message": "method not allowed"}
    assert resp.mimetype == "application/json"


def test_other_http_errors_keep_the_json_body() -> None:
    resp = _app().test_client().get("/nothing")
    assert resp.status_code == 404
    assert resp.get_json() == {"code": 404, "message": "not found"}
    assert "Allow" not in resp.headers


def test_every_class_of_the_tree_has_its_status() -> None:
    """protocol/errors.py is the one tree: each class but the base is mapped explicitly, and
    the statuses are the documented ones."""
    import inspect

    from sigstack.protocol import errors
    from sigstack.services.runtime.errors import STATUS, status_of

    tree = {c for _, c in inspect.getmembers(errors, inspect.isclass)
            if issubclass(c, errors.Error) and c is not errors.Error}  # fmt: skip
    assert tree == {cls for cls, _ in STATUS}
    statuses = {cls.__name__: status_of(cls("x")) for cls in tree}
    assert statuses == {
        "SchemaError": 422, "ValidationError": 400, "VerificationError": 400,
        "AuthenticationError": 401, "PermissionDeniedError": 403, "NotFoundError": 404,
        "FrozenError": 405, "ConflictError": 409,
        "RateLimitedError": 429, "InternalError": 500, "ConfigError": 500,
        "UnavailableError": 503,
    }  # fmt: skip


def test_errors_carry_their_headers() -> None:
    from sigstack.protocol.errors import ConflictError, RateLimitedError

    def register(app: Flask) -> None:
        def conflict() -> str:
            raise ConflictError("exists", location="/things/1", log_index=7)

        def throttled() -> str:
            raise RateLimitedError("wait", retry_after=30)

        app.add_url_rule("/conflict", "conflict", conflict)
        app.add_url_rule("/throttled", "throttled", throttled)

    client = create_app("test", {}, register).test_client()
    resp = client.get("/conflict")
    assert (resp.status_code, resp.get_json()) == (409, {"code": 409, "message": "exists"})
    assert (resp.headers["Location"], resp.headers["x-log-index"]) == ("/things/1", "7")
    resp = client.get("/throttled")
    assert (resp.status_code, resp.headers["Retry-After"]) == (429, "30")


def test_no_service_raises_the_bare_base_class() -> None:
    import re

    from tests.support.testdata import ROOT

    bare = re.compile(r"(?<![\w.])Error\((?!Exception\))")
    found = [str(p.relative_to(ROOT)) for d in ("services", "protocol")
             for p in (ROOT / d).rglob("*.py") if bare.search(p.read_text())]  # fmt: skip
    assert found == []

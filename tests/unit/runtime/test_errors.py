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

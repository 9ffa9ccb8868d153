"""A small app on the shared app factory, served by the worker under test."""

from __future__ import annotations

import time

from flask import Flask, request

from sigstack.services.runtime.app import create_app


def _register(app: Flask) -> None:
    @app.get("/slow")
    def slow() -> dict[str, str]:
        time.sleep(float(request.args.get("s", "1")))
        return {"slept": "yes"}

    @app.post("/echo")
    def echo() -> dict[str, int]:
        return {"length": len(request.get_data())}


app = create_app("worker-test", {"max_body_bytes": 1024}, _register)

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from flask import Flask

from sigstack.services.keys import create_file_key
from sigstack.services.rekor2.app import create_app
from sigstack.services.rekor2.config import Rekor2Config
from sigstack.services.runtime import db

ORIGIN = "rekor2.test"
LOG_KEY_DETAILS = {"ed25519": "PKIX_ED25519", "ecdsa-p256": "PKIX_ECDSA_P256_SHA_256"}


@pytest.fixture
def make_app(tmp_path) -> Callable[..., Flask]:
    """A Rekor v2 app on a fresh SQLite log; keyword arguments override the configuration."""
    url = db.sqlite_url(tmp_path / "rekor2.db")
    db.upgrade(url)
    made: list[Flask] = []
    numbers = itertools.count()

    def make(key_algorithm: str = "ed25519", **config: object) -> Flask:
        key = tmp_path / f"key-{next(numbers)}.pem"
        create_file_key(key, key_algorithm)
        values = {"origin": ORIGIN, "create": True, "batch_wait_ms": 0, **config}
        app = create_app(Rekor2Config.from_mapping({"database_url": url, "key_uri": f"file:{key}",
                                                    **values}))  # fmt: skip
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["rekor2"].close()


@pytest.fixture(params=sorted(LOG_KEY_DETAILS))
def log_key(request) -> str:
    return request.param


@pytest.fixture
def app(make_app) -> Flask:
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def rekor2(app):
    return app.extensions["rekor2"]

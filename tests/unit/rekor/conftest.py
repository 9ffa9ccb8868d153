from __future__ import annotations

import pytest

from sigstack.services.keys import create_file_key
from sigstack.services.rekor.app import create_app
from sigstack.services.rekor.config import RekorConfig
from sigstack.services.runtime import db


@pytest.fixture
def rekor_app(tmp_path):
    url = db.sqlite_url(tmp_path / "rekor.db")
    db.upgrade(url)
    create_file_key(tmp_path / "key.pem")
    app = create_app(
        RekorConfig(
            database_url=url,
            key_uri=f"file:{tmp_path / 'key.pem'}",
            hostname="rekor.test",
            create=True,
            batch_wait_ms=0,
            max_body_bytes=64 * 1024,
        )
    )
    return app


@pytest.fixture
def client(rekor_app):
    return rekor_app.test_client()


@pytest.fixture
def rekor(rekor_app):
    return rekor_app.extensions["rekor"]

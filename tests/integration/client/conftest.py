"""The ``stack`` for the client's (and the OCI) integration tests: the project's own CT log, Fulcio
and Rekor started as real gunicorn servers (``tests.support.signing_services``) with a throw-away OIDC
issuer. The contract the tests rely on is documented in ``test_sign_verify.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from tests.support.signing_services import signing_services, trust_config

    tmp: Path = tmp_path_factory.mktemp("client-stack")
    try:
        with signing_services(tmp) as running:
            (tmp / "trust_config.json").write_text(json.dumps(trust_config(running)))
            issuer = running["issuer"]
            yield {
                "trust_config": tmp / "trust_config.json",
                "token": lambda: issuer.email_token("client@example.com"),
                "identity": "client@example.com",
                "issuer": issuer.url,
            }
    except RuntimeError as exc:
        pytest.skip(f"needs the services ({exc})")

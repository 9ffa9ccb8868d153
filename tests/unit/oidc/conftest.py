"""Fixtures for the OIDC issuer's unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.oidc import OIDCIssuer

from .helpers import Env, make_env


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path)


@pytest.fixture(scope="module")
def ci() -> Iterator[OIDCIssuer]:
    """An outside issuer (a CI system, a cluster) whose tokens the exchange tests present."""
    provider = OIDCIssuer(("RS256", "ES256"))
    yield provider
    provider.close()

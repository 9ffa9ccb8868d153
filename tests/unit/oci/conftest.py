"""The fake registry of fakeregistry.py as a fixture (test_registry.py has its own ``fake``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fakeregistry import FakeRegistry


@pytest.fixture
def fake() -> Iterator[FakeRegistry]:
    """A real HTTP registry on 127.0.0.1, closed after the test."""
    reg = FakeRegistry()
    yield reg
    reg.close()

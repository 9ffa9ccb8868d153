"""Static checks of docker-compose.yml and the Dockerfile (CI has no Docker engine to run them).

Every ``sigstack`` command a container runs is parsed by the real argparse parser of the command it
names (``ArgumentParser.parse_args`` is intercepted right after parsing, so no server starts and no
data directory is touched); the parsed values then drive the wiring checks: ports, URLs between
services, volumes behind every file a service reads, health checks, dependencies, the OIDC issuer
URL in Fulcio's configuration. ``problems()`` returns what is wrong; the negative tests feed it
broken copies to show each check bites.
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import pytest

from tests.unit.deploy.compose_check import (
    DOCKERFILE,
    dockerfile_problems,
    interpolate,
    load_compose,
    parse_sigstack,
    problems,
)

# ------------------------------------------------------------------------------------ the tests


def test_compose_and_dockerfile_are_consistent() -> None:
    assert problems(load_compose(), DOCKERFILE.read_text()) == []


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET:-d}-${EMPTY:-e}-${EMPTY-f}-$$", env) == "x-d-e--$"
    with pytest.raises(AssertionError):
        interpolate("${UNSET:?needed}", env)


def test_parse_sigstack_uses_the_real_parsers() -> None:
    ns = parse_sigstack(["serve", "rekor", "--data-dir", "/d", "--port", "3001"])
    assert isinstance(ns, argparse.Namespace) and ns.port == 3001
    assert "unrecognized" in str(
        parse_sigstack(["serve", "oidc", "--port", "1", "--data-dir", "/d", "--bogus"])
    )
    assert "required" in str(parse_sigstack(["serve", "fulcio", "--data-dir", "/d"]))
    assert "unknown" in str(parse_sigstack(["serve-all"]))


def _set(compose: dict[str, Any], service: str, flag: str, value: str) -> None:
    command = compose["services"][service]["command"]
    command[command.index(flag) + 1] = value


def _drop_healthcheck(c: dict[str, Any]) -> None:
    del c["services"]["rekor"]["healthcheck"]


def _unknown_dependency(c: dict[str, Any]) -> None:
    c["services"]["fulcio"]["depends_on"]["ct-log"] = c["services"]["fulcio"]["depends_on"].pop(
        "ctlog"
    )


def _undeclared_volume(c: dict[str, Any]) -> None:
    del c["volumes"]["rekor-data"]


def _unknown_flag(c: dict[str, Any]) -> None:
    c["services"]["ctlog"]["command"].append("--roots-dir")


def _no_migration_wait(c: dict[str, Any]) -> None:
    del c["services"]["oidc"]["depends_on"]["migrate"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: _set(c, "fulcio", "--ct-url", "http://ctlog:6963"), "listens on 6962"),
        (lambda c: _set(c, "fulcio", "--ct-url", "http://ct:6962"), "names no service"),
        (lambda c: _set(c, "oidc", "--issuer-url", "http://oidc:5556/"), "not the issuer"),
        (lambda c: _set(c, "rekor", "--port", "3001"), "listens on 3001"),
        (lambda c: _set(c, "ctlog", "--roots", "/data/ctlog/root.pem"), "same volume"),
        (lambda c: _set(c, "tuf", "--data-dir", "/srv/tuf"), "on no volume"),
        (
            lambda c: _set(c, "migrate", "--database-url", "postgresql://x@postgres:5432/other"),
            "different databases",
        ),
        (_drop_healthcheck, "without a healthcheck"),
        (_unknown_dependency, "unknown service 'ct-log'"),
        (_undeclared_volume, "'rekor-data' is not declared"),
        (_unknown_flag, "does not parse"),
        (_no_migration_wait, "does not wait for the migration job"),
    ],
)
def test_a_broken_copy_is_caught(mutate: Any, expected: str) -> None:
    broken = copy.deepcopy(load_compose())
    mutate(broken)
    found = problems(broken)
    assert any(expected in p for p in found), found


def test_a_broken_dockerfile_is_caught() -> None:
    text = DOCKERFILE.read_text()
    assert any(
        "ENTRYPOINT" in p for p in dockerfile_problems(text.replace('["sigstack"]', '["python"]'))
    )
    assert any(
        "non-root" in p for p in dockerfile_problems(text.replace("USER sigstack", "USER root"))
    )
    assert any(
        "migrations" in p
        for p in dockerfile_problems(text.replace("COPY migrations", "COPY bench"))
    )

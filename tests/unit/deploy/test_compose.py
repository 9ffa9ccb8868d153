"""Static checks of docker-compose.yml and the Dockerfile (CI has no Docker engine to run them).

Every ``sigstack`` command a container runs is parsed by the real argparse parser of the command it
names (``ArgumentParser.parse_args`` is intercepted right after parsing, so no server starts and no
data directory is touched); the parsed values then drive the wiring checks: ports, URLs between
services, volumes behind every file a service reads, health checks, dependencies, the OIDC issuer
URL in Fulcio's configuration; and the database's secrets: no password fallback, no database URL
or secret on a command line, the owner role for the migration job alone, one role per service,
granted by the migration job from the URL the service connects with. ``problems()`` returns what
is wrong; the negative tests feed it broken copies to show each check bites.
"""

from __future__ import annotations

import argparse
import copy
import re
from typing import Any

import pytest

from tests.unit.deploy.compose_check import dockerfile_problems, problems
from tests.unit.deploy.compose_read import (
    COMPOSE,
    DOCKERFILE,
    TEST_ENV,
    interpolate,
    load_compose,
    parse_sigstack,
)

# ------------------------------------------------------------------------------------ the tests


def test_compose_and_dockerfile_are_consistent() -> None:
    assert problems(load_compose(), DOCKERFILE.read_text(), COMPOSE.read_text()) == []


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


def _url(c: dict[str, Any], service: str, old: str, new: str) -> None:
    """Change the URL ``service`` connects with, and the copy the migration job grants from."""
    name = f"SIGSTACK_{service.upper()}_DATABASE_URL"
    for holder in (service, "migrate"):
        env = c["services"][holder]["environment"]
        env[name] = env[name].replace(old, new)


def _owner_url(c: dict[str, Any]) -> str:
    return str(c["services"]["migrate"]["environment"]["SIGSTACK_DATABASE_URL"])


def _url_on_command_line(c: dict[str, Any]) -> None:
    rekor = c["services"]["rekor"]
    url = rekor["environment"].pop("SIGSTACK_REKOR_DATABASE_URL")
    rekor["command"] += ["--database-url", url]


def _migrate_url_on_command_line(c: dict[str, Any]) -> None:
    c["services"]["migrate"]["command"] += ["--database-url", _owner_url(c)]


def _passphrase_on_command_line(c: dict[str, Any]) -> None:
    fulcio = c["services"]["fulcio"]
    fulcio["command"][fulcio["command"].index("--ca-key") + 1] = (
        "file:/data/fulcio/ca/intermediate-key.pem?passphrase=" + TEST_ENV["SIGSTACK_CA_PASSPHRASE"]
    )


def _secret_in_healthcheck(c: dict[str, Any]) -> None:
    c["services"]["postgres"]["healthcheck"]["test"] = [
        "CMD", "psql", _owner_url(c), "-c", "SELECT 1"
    ]  # fmt: skip


def _service_as_owner(c: dict[str, Any]) -> None:
    _url(c, "rekor", "sigstack_rekor:" + TEST_ENV["REKOR_DB_PASSWORD"],
         "sigstack:" + TEST_ENV["POSTGRES_PASSWORD"])  # fmt: skip


def _shared_role(c: dict[str, Any]) -> None:
    _url(c, "ctlog", "sigstack_ctlog:", "sigstack_rekor:")


def _shared_password(c: dict[str, Any]) -> None:
    _url(c, "ctlog", TEST_ENV["CTLOG_DB_PASSWORD"], TEST_ENV["REKOR_DB_PASSWORD"])


def _hard_coded_password(c: dict[str, Any]) -> None:
    c["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] = "sigstack"


def _hard_coded_url_password(c: dict[str, Any]) -> None:
    _url(c, "oidc", TEST_ENV["OIDC_DB_PASSWORD"], "sigstack")


def _migrate_not_owner(c: dict[str, Any]) -> None:
    env = c["services"]["migrate"]["environment"]
    env["SIGSTACK_DATABASE_URL"] = env["SIGSTACK_REKOR_DATABASE_URL"]


def _not_granted(c: dict[str, Any]) -> None:
    command = c["services"]["migrate"]["command"]
    del command[command.index("ctlog") - 1 : command.index("ctlog") + 1]


def _granted_from_another_url(c: dict[str, Any]) -> None:
    env = c["services"]["oidc"]["environment"]
    env["SIGSTACK_OIDC_DATABASE_URL"] = env["SIGSTACK_OIDC_DATABASE_URL"].replace(
        "sigstack_oidc:", "issuer:"
    )


def _no_service_url(c: dict[str, Any]) -> None:
    del c["services"]["ctlog"]["environment"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda c: _set(c, "fulcio", "--ct-url", "http://ctlog:6963"), "listens on 6962"),
        (lambda c: _set(c, "fulcio", "--ct-url", "http://ct:6962"), "names no service"),
        (lambda c: _set(c, "oidc", "--issuer-url", "http://oidc:5556/"), "not the issuer"),
        (lambda c: _set(c, "rekor", "--port", "3001"), "listens on 3001"),
        (lambda c: _set(c, "ctlog", "--roots", "/data/ctlog/root.pem"), "same volume"),
        (lambda c: _set(c, "tuf", "--data-dir", "/srv/tuf"), "on no volume"),
        (lambda c: _url(c, "rekor", "/sigstack", "/other"), "different databases"),
        (_drop_healthcheck, "without a healthcheck"),
        (_unknown_dependency, "unknown service 'ct-log'"),
        (_undeclared_volume, "'rekor-data' is not declared"),
        (_unknown_flag, "does not parse"),
        (_no_migration_wait, "does not wait for the migration job"),
        (_url_on_command_line, "rekor: a database URL on its command line"),
        (_migrate_url_on_command_line, "migrate: a database URL on its command line"),
        (_passphrase_on_command_line, "fulcio: a secret from .env on its command line"),
        (_secret_in_healthcheck, "postgres: a database URL on its command line"),
        (_service_as_owner, "rekor: connects with the owner role"),
        (_shared_role, "shares the role sigstack_rekor with"),
        (_shared_password, "same password"),
        (_hard_coded_password, "POSTGRES_PASSWORD is hard-coded"),
        (_hard_coded_url_password, "not taken from .env"),
        (_migrate_not_owner, "not the owner sigstack"),
        (_not_granted, "ctlog's role is not granted"),
        (_granted_from_another_url, "SIGSTACK_OIDC_DATABASE_URL does not match oidc's"),
        (_no_service_url, "ctlog: no database URL"),
    ],
)
def test_a_broken_copy_is_caught(mutate: Any, expected: str) -> None:
    broken = copy.deepcopy(load_compose())
    mutate(broken)
    found = problems(broken)
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        (r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", "${POSTGRES_PASSWORD:-sigstack}"),
        (r"\$\{REKOR_DB_PASSWORD:\?[^}]*\}", "${REKOR_DB_PASSWORD-rekor}"),
        (r"\$\{OIDC_DB_PASSWORD:\?[^}]*\}", "${OIDC_DB_PASSWORD}"),
        (r"\$\{SIGSTACK_CA_PASSPHRASE:\?[^}]*\}", "${SIGSTACK_CA_PASSPHRASE:-}"),
    ],
)
def test_a_secret_with_a_fallback_is_caught(pattern: str, replacement: str) -> None:
    text = COMPOSE.read_text()
    broken, count = re.subn(pattern, lambda _m: replacement, text)
    assert count >= 1
    found = problems(load_compose(broken), text=broken)
    name = replacement[2:].split(":")[0].split("-")[0].rstrip("}")
    assert any(f"${{{name}}} has no `:?`" in p for p in found), found


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


def test_the_checks_know_every_service_and_every_database_role() -> None:
    """The check's lists follow the code: every service `sigstack up` runs, and every service with
    tables (the roles `sigstack db grant` knows) gets its own role here."""
    from sigstack.services import stack
    from sigstack.services.cli import WITH_DATABASE as CLI_WITH_DATABASE
    from sigstack.services.runtime import grants
    from tests.unit.deploy import compose_read

    assert set(stack.SERVICES) == compose_read.SERVICES
    # the witness keeps a table too but is not part of the stack: it is run apart, usually by
    # another party (docs/witness.md)
    in_stack = set(CLI_WITH_DATABASE) - {"witness"}
    assert set(CLI_WITH_DATABASE) == set(grants.SERVICES)
    assert in_stack == compose_read.WITH_DATABASE

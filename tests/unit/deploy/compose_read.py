"""docker-compose.yml and the Dockerfile as the checks read them: compose's interpolation with a
test .env, the real sigstack parser of each command, and a service's mounts, ports, URLs and
environment (used by compose_check.py, test_compose.py and test_doc_commands.py)."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
from typing import Any
from unittest import mock

import yaml

from tests.support.testdata import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
IMAGE = "sigstack:latest"

# What the test pretends .env holds; every ${VAR:?} in the file must have a value here. Secrets get
# values found nowhere else, so that the checks can tell where each one ends up.
TEST_ENV = {
    "POSTGRES_PASSWORD": "ownerpw7f3a",
    "OIDC_DB_PASSWORD": "oidcpw91c2",
    "CTLOG_DB_PASSWORD": "ctlogpw4e8d",
    "REKOR_DB_PASSWORD": "rekorpw0b6f",
    "REKOR2_DB_PASSWORD": "rekor2pw5c9a",
    "SIGSTACK_CA_PASSPHRASE": "capassphrase5d1e",
}
# Variables holding secrets, by name: never a default, never on a command line.
SECRET_NAME = re.compile(r"PASSWORD|PASSPHRASE|SECRET|TOKEN", re.I)
SECRETS = {v for k, v in TEST_ENV.items() if SECRET_NAME.search(k)}
# Ports of containers that do not run sigstack (their images' defaults).
OTHER_PORTS = {"postgres": 5432}
# Services that keep state in a database and so must be given the shared PostgreSQL.
WITH_DATABASE = {"oidc", "ctlog", "rekor", "rekor2"}
SERVICES = {"oidc", "fulcio", "ctlog", "rekor", "tuf", "tsa", "rekor2"}

VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ``${V}``, ``${V:-default}``, ``${V:?error}``, ``$$``."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?"):
            if not value:
                raise AssertionError(f"${{{name}}} is required ({arg}); add it to TEST_ENV")
            return value
        return value or ""

    return VAR.sub(sub, text)


def load_compose(text: str | None = None) -> dict[str, Any]:
    raw = COMPOSE.read_text() if text is None else text
    return yaml.safe_load(interpolate(raw, TEST_ENV))


class _Parsed(Exception):
    def __init__(self, namespace: argparse.Namespace) -> None:
        self.namespace = namespace


def parse_sigstack(argv: list[str]) -> argparse.Namespace | str:
    """The namespace ``sigstack ARGV`` parses to, or the error text argparse would print."""
    from sigstack.client.cli import COMMANDS
    from sigstack.client.cli import main as cli_main
    from sigstack.services.runtime import server

    if argv in (["--help"], ["-h"]):  # the front door's own usage text
        return argparse.Namespace()
    if not argv or argv[0] not in COMMANDS:
        return f"unknown sigstack command {argv[:1]}"
    original = argparse.ArgumentParser.parse_args

    def intercept(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        raise _Parsed(original(self, args, namespace))

    err = io.StringIO()
    with (
        mock.patch.object(argparse.ArgumentParser, "parse_args", intercept),
        # `sigstack serve` would point the metrics at a fresh temporary directory through
        # os.environ before importing the service; keep this process's environment as it is.
        mock.patch.object(server, "prepare_metrics_dir", lambda: None, create=True),
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        try:
            cli_main(list(argv))
        except _Parsed as parsed:
            return parsed.namespace
        except SystemExit:
            return err.getvalue().strip().splitlines()[-1] if err.getvalue() else "exit"
    return "the command returned without parsing its arguments"


def runs_sigstack(svc: dict[str, Any]) -> bool:
    return svc.get("image") == IMAGE or "build" in svc


def long_running(svc: dict[str, Any]) -> bool:
    return svc.get("restart", "no") != "no" and not svc.get("profiles")


def mounts(svc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of the short-syntax volume entries."""
    out = []
    for entry in svc.get("volumes", []):
        parts = entry.split(":")
        out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def mount_of(svc: dict[str, Any], path: str) -> tuple[str, str, bool] | None:
    """The mount holding ``path`` in the container (the deepest one), if any."""
    best = None
    for source, target, ro in mounts(svc):
        if path == target or path.startswith(target.rstrip("/") + "/"):
            if best is None or len(target) > len(best[1]):
                best = (source, target, ro)
    return best


def container_port(spec: str) -> int:
    return int(str(spec).rsplit(":", 1)[-1].split("/")[0])


def http_urls(words: list[str]) -> list[str]:
    return [w for w in words if isinstance(w, str) and w.startswith(("http://", "https://"))]


def file_path(value: str | None) -> str | None:
    if not value:
        return None
    if value.startswith("file:"):
        return value[len("file:") :].split("?", 1)[0]
    return value if value.startswith("/") else None


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):  # ["NAME=value", ...]
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def db_urls(words: list[Any]) -> list[str]:
    return [
        w for w in words if isinstance(w, str) and w.startswith(("postgresql://", "postgres://"))
    ]


def as_words(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(w) for w in value] if isinstance(value, list) else [str(value)]

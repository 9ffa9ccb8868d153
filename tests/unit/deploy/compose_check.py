"""Static checks of docker-compose.yml and the Dockerfile against the real sigstack parsers
(used by test_compose.py); reading the files is compose_read.py's."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.support.testdata import ROOT
from tests.unit.deploy.compose_read import (
    OTHER_PORTS,
    SECRET_NAME,
    SECRETS,
    SERVICES,
    VAR,
    WITH_DATABASE,
    as_words,
    container_port,
    db_urls,
    environment,
    file_path,
    http_urls,
    long_running,
    mount_of,
    mounts,
    parse_sigstack,
    runs_sigstack,
)


def problems(
    compose: dict[str, Any], dockerfile: str | None = None, text: str | None = None
) -> list[str]:
    """Everything wrong with a compose file (and the Dockerfile, and the file's raw ``text``
    before interpolation), as messages."""
    found: list[str] = []
    services: dict[str, dict[str, Any]] = compose.get("services", {})
    declared = set((compose.get("volumes") or {}).keys())
    parsed: dict[str, argparse.Namespace] = {}

    # Commands: each parses with the real parser of the command it names.
    for name, svc in services.items():
        if not runs_sigstack(svc):
            continue
        argv = svc.get("command")
        if not isinstance(argv, list) or not argv:
            found.append(f"{name}: command must be a non-empty list (exec form)")
            continue
        if argv == ["--help"]:
            continue
        result = parse_sigstack(argv)
        if isinstance(result, str):
            found.append(f"{name}: `sigstack {' '.join(argv)}` does not parse: {result}")
        else:
            parsed[name] = result

    # Every service of the stack is there and runs `sigstack serve <itself>`.
    for name in sorted(SERVICES):
        svc = services.get(name)
        if svc is None or svc.get("command", [None, None])[:2] != ["serve", name]:
            found.append(f"{name}: missing, or not running `sigstack serve {name}`")
    ports = dict(OTHER_PORTS)
    for name, ns in parsed.items():
        if services[name]["command"][0] == "serve":
            ports[name] = ns.port
            if ns.host != "0.0.0.0":
                found.append(
                    f"{name}: --host must be 0.0.0.0 to be reachable from other containers"
                )

    # depends_on: existing services, conditions they can meet.
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep, spec in deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps):
            if dep not in services:
                found.append(f"{name}: depends_on names an unknown service {dep!r}")
                continue
            condition = (spec or {}).get("condition", "service_started")
            if condition == "service_healthy" and "healthcheck" not in services[dep]:
                found.append(f"{name}: waits for {dep} to be healthy but {dep} has no healthcheck")
            if condition == "service_completed_successfully" and long_running(services[dep]):
                found.append(f"{name}: waits for {dep} to complete but {dep} runs forever")
            if services[dep].get("profiles") and not svc.get("profiles"):
                found.append(f"{name}: depends on {dep}, which only runs in a profile")

    # Volumes: named ones declared, bind sources present in the checkout.
    for name, svc in services.items():
        for source, target, _ro in mounts(svc):
            if source.startswith((".", "/")):
                if source.startswith(".") and not (ROOT / source).exists():
                    found.append(f"{name}: bind mount source {source} does not exist")
            elif source not in declared:
                found.append(f"{name}: volume {source!r} is not declared under volumes:")
            if not target.startswith("/"):
                found.append(f"{name}: mount target {target} is not absolute")

    # Health checks on every long-running service, hitting its own port.
    for name, svc in services.items():
        if not long_running(svc):
            continue
        test = (svc.get("healthcheck") or {}).get("test")
        if not test:
            found.append(f"{name}: long-running service without a healthcheck")
            continue
        if name in parsed:
            urls = [u for w in test for u in re.findall(r"https?://[^'\" ]+", str(w))]
            if not any(
                urlsplit(u).port == ports[name] and urlsplit(u).path == "/healthz" for u in urls
            ):
                found.append(f"{name}: healthcheck does not GET /healthz on port {ports[name]}")
            if any("curl" in str(w) or "wget" in str(w) for w in test):
                found.append(f"{name}: healthcheck uses curl/wget, which the slim image lacks")

    # Published ports are the ports the services listen on.
    for name, svc in services.items():
        for spec in svc.get("ports", []):
            if name in ports and container_port(spec) != ports[name]:
                found.append(f"{name}: publishes {spec} but listens on {ports[name]}")

    # URLs that name another service use that service's port.
    for name, svc in services.items():
        words = list(svc.get("command") or []) + list((svc.get("environment") or {}).values())
        for url in http_urls(words) + db_urls(words):
            parts = urlsplit(url)
            host = parts.hostname or ""
            if host in ("127.0.0.1", "localhost", "0.0.0.0"):
                found.append(f"{name}: {url} points at the container itself")
            elif host not in services:
                if "." not in host:
                    found.append(f"{name}: {url} names no service of this file")
            elif host in ports and (parts.port or 80) != ports[host]:
                found.append(
                    f"{name}: {url} uses port {parts.port}, {host} listens on {ports[host]}"
                )

    found += _wiring(services, parsed)
    found += _secret_problems(services)
    found += _database_problems(services, parsed)
    if text is not None:
        found += text_problems(text)
    if dockerfile is not None:
        found += dockerfile_problems(dockerfile)
    return found


def _wiring(
    services: dict[str, dict[str, Any]], parsed: dict[str, argparse.Namespace]
) -> list[str]:
    """The links between services that a URL check alone does not see."""
    found: list[str] = []
    get = parsed.get

    # Files a service reads live on a volume mounted in that container.
    for name, ns in parsed.items():
        svc = services[name]
        for flag in ("roots", "config", "ca_chain", "ct_public_key", "ca_key", "key_uri"):
            path = file_path(getattr(ns, flag, None))
            if path and mount_of(svc, path) is None:
                found.append(f"{name}: --{flag.replace('_', '-')} {path} is on no volume")
        for flag in ("data_dir", "out_dir", "key_dir"):
            path = getattr(ns, flag, None)
            if path is None:
                continue
            path = str(path)
            below = [t for _s, t, _r in mounts(svc) if t == path or t.startswith(path + "/")]
            mount = mount_of(svc, path)
            if not below and mount is None:
                found.append(
                    f"{name}: --{flag.replace('_', '-')} {path} is on no volume (lost at restart)"
                )
            elif mount is not None and mount[2]:
                found.append(f"{name}: --{flag.replace('_', '-')} {path} is mounted read-only")

    def volume(name: str, path: str | None) -> str | None:
        mount = mount_of(services.get(name, {}), file_path(path) or "")
        return mount[0] if mount else None

    fulcio, ctlog, oidc = get("fulcio"), get("ctlog"), get("oidc")
    if fulcio and ctlog:
        # The CT log accepts chains to the root Fulcio issues under.
        if volume("ctlog", ctlog.roots) != volume("fulcio", fulcio.ca_chain):
            found.append("ctlog --roots and fulcio --ca-chain are not on the same volume")
        if not fulcio.ct_url:
            found.append("fulcio: no --ct-url (certificates would carry no SCT)")
        elif urlsplit(fulcio.ct_url).hostname != "ctlog":
            found.append(f"fulcio: --ct-url {fulcio.ct_url} does not name the ctlog service")
        if fulcio.ct_public_key:
            vol = volume("fulcio", fulcio.ct_public_key)
            if vol is None or not any(
                s == vol and not ro for s, _t, ro in mounts(services["ctlog"])
            ):
                found.append(
                    "fulcio: --ct-public-key is not on a volume ctlog can write its key to"
                )
    for init, flag, user, user_flag in (
        ("ca-init", "out_dir", "fulcio", "ca_chain"),
        ("tuf-init", "data_dir", "tuf", "data_dir"),
    ):
        if init in parsed and user in parsed:
            made = mount_of(services[init], str(getattr(parsed[init], flag)))
            used = volume(user, str(getattr(parsed[user], user_flag)))
            if made is None or made[0] != used:
                found.append(f"{init} writes to another volume than {user} reads")
    if fulcio and oidc:
        found += _issuer_problems(services["fulcio"], fulcio, oidc)
    return found


def _issuer_problems(
    svc: dict[str, Any], fulcio: argparse.Namespace, oidc: argparse.Namespace
) -> list[str]:
    """Fulcio's configuration (a bind-mounted file) trusts the OIDC service's issuer URL exactly."""
    mount = mount_of(svc, fulcio.config)
    if mount is None or not mount[0].startswith("."):
        return ["fulcio: --config is not a file of this checkout mounted into the container"]
    source = ROOT / mount[0]
    if mount[1] != fulcio.config:  # a directory mount
        source = source / Path(fulcio.config).relative_to(mount[1])
    config = json.loads(source.read_text())
    issuers = list(config.get("OIDCIssuers") or {})
    if oidc.issuer_url not in issuers:
        return [f"fulcio: {source.name} trusts {issuers}, not the issuer {oidc.issuer_url!r}"]
    if urlsplit(oidc.issuer_url).hostname != "oidc" or urlsplit(oidc.issuer_url).port != oidc.port:
        return [f"oidc: --issuer-url {oidc.issuer_url} is not this service's own address"]
    return []


def dockerfile_problems(text: str) -> list[str]:
    found = []
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    entry = [ln for ln in lines if ln.upper().startswith("ENTRYPOINT")]
    if not entry or json.loads(entry[-1].split(None, 1)[1]) != ["sigstack"]:
        found.append('Dockerfile: ENTRYPOINT must be ["sigstack"]')
    if not any(ln.startswith("FROM python:3.11-slim") for ln in lines):
        found.append("Dockerfile: base image must be python:3.11-slim")
    user = [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith("USER ")]
    if not user or user[-1] in ("root", "0"):
        found.append("Dockerfile: must run as a non-root USER")
    copied = {ln.split()[1] for ln in lines if ln.upper().startswith("COPY ")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # The package is sigstack/, whose sub-packages are links to the top-level folders: all of them
    # must be in the image for the links to resolve when pip builds the wheel there.
    needed = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    needed += [link.name for link in (ROOT / "sigstack").iterdir() if link.is_symlink()]
    for name in needed:
        if name not in copied:
            found.append(f"Dockerfile: package {name} is not copied into the image")
    for source in copied:
        if not (ROOT / source).exists():
            found.append(f"Dockerfile: COPY source {source} does not exist")
    if project["project"]["scripts"].get("sigstack") is None:
        found.append("pyproject.toml defines no `sigstack` console script")
    return found


# ------------------------------------------------------------------------- secrets and databases


def text_problems(text: str) -> list[str]:
    """A secret variable without ``:?`` would silently become a default (or nothing) when .env
    lacks it. (Literal secrets, without any variable, are ``_secret_problems``'s.)"""
    found = []
    for m in VAR.finditer(text):
        name, op = m.group(1), m.group(2)
        if name and SECRET_NAME.search(name) and op not in (":?", "?"):
            found.append(f"${{{name}}} has no `:?`: a missing secret falls back to {m.group(0)}")
    return found


def _secret_problems(services: dict[str, dict[str, Any]]) -> list[str]:
    """No database URL or secret on a command line (``ps`` and ``/proc/PID/cmdline`` show them to
    every user); secrets in the environment come from .env, never from the file itself."""
    found = []
    for name, svc in services.items():
        words = [*as_words(svc.get("command")), *as_words(svc.get("entrypoint"))]
        words += as_words((svc.get("healthcheck") or {}).get("test"))
        for word in words:
            if re.search(r"postgres(ql)?(\+\w+)?://", word, re.I):
                found.append(f"{name}: a database URL on its command line ({word[:20]}...)")
            elif any(secret in word for secret in SECRETS):
                found.append(f"{name}: a secret from .env on its command line")
        for key, value in environment(svc).items():
            if SECRET_NAME.search(key) and value not in SECRETS:
                found.append(f"{name}: {key} is hard-coded, not taken from .env")
            for url in db_urls([value]):
                password = urlsplit(url).password
                if password not in SECRETS:
                    found.append(f"{name}: {key} holds a password that is not taken from .env")
    return found


def _owner(services: dict[str, dict[str, Any]]) -> tuple[str | None, str | None]:
    """The role and password PostgreSQL's image makes the owner (superuser) of its database."""
    env = environment(services.get("postgres", {}))
    return env.get("POSTGRES_USER", "postgres"), env.get("POSTGRES_PASSWORD")


def service_database_url(name: str, ns: argparse.Namespace, env: dict[str, str]) -> str | None:
    """The database URL a ``sigstack serve NAME`` container ends up with: ``--database-url``
    over ``SIGSTACK_<NAME>_DATABASE_URL``, merged by the services' own configuration loader."""
    from sigstack.services.oidc.config import OIDCConfig
    from sigstack.services.runtime.config import load_config

    prefix = {"oidc": OIDCConfig.env_prefix(), "ctlog": "SIGSTACK_CTLOG", "rekor": "SIGSTACK_REKOR",
              "rekor2": "SIGSTACK_REKOR2"}[name]  # fmt: skip
    merged = load_config({"database_url": None}, env_prefix=prefix, environ=env,
                         overrides={"database_url": getattr(ns, "database_url", None)})  # fmt: skip
    url = merged.get("database_url")
    return str(url) if url else None


def _database_problems(
    services: dict[str, dict[str, Any]], parsed: dict[str, argparse.Namespace]
) -> list[str]:
    """One database; the migration job as its owner; every service with a role of its own that
    the migration job creates and grants from the very URL the service connects with."""
    from sigstack.services.cli import DATABASE_URL_ENV

    found: list[str] = []
    owner, owner_password = _owner(services)
    migrate = [n for n, s in services.items() if s.get("command", [])[:2] == ["db", "upgrade"]]
    if not migrate:
        found.append("no service runs `sigstack db upgrade`")
    urls: dict[str, str] = {}
    for name in migrate:
        if name not in parsed:
            continue
        env = environment(services[name])
        url = parsed[name].database_url or env.get(DATABASE_URL_ENV)
        if not url:
            found.append(f"{name}: no database URL in {DATABASE_URL_ENV}")
            continue
        urls[name] = url
        parts = urlsplit(url)
        if parts.username != owner or parts.password != owner_password:
            found.append(f"{name}: runs the migrations as {parts.username}, not the owner {owner}")
        granted = set(parsed[name].grant or ())
        for service in sorted(WITH_DATABASE - granted):
            found.append(f"{name}: {service}'s role is not granted (--grant {service})")
    roles: dict[str, str] = {}
    for name in sorted(WITH_DATABASE):
        if name not in parsed:
            continue
        env = environment(services[name])
        url = service_database_url(name, parsed[name], env)
        if not url:
            found.append(f"{name}: no database URL (it would fall back to SQLite in its volume)")
            continue
        urls[name] = url
        parts = urlsplit(url)
        role = parts.username or ""
        if role == owner or not role:
            found.append(f"{name}: connects with the owner role {owner} (or none)")
        elif role in roles:
            found.append(f"{name}: shares the role {role} with {roles[role]}")
        else:
            roles[role] = name
        if parts.password and parts.password == owner_password:
            found.append(f"{name}: uses the owner's password")
        for m in migrate:
            given = environment(services[m]).get(f"SIGSTACK_{name.upper()}_DATABASE_URL")
            if given != url:
                found.append(f"{m}: SIGSTACK_{name.upper()}_DATABASE_URL does not match {name}'s")
        deps = services[name].get("depends_on") or {}
        if not any(
            (deps.get(m) or {}).get("condition") == "service_completed_successfully"
            for m in migrate
            if isinstance(deps, dict)
        ):
            found.append(f"{name}: does not wait for the migration job to complete")
    passwords = [urlsplit(u).password for n, u in urls.items() if n in WITH_DATABASE]
    if len(set(passwords)) != len(passwords):
        found.append("two services' roles have the same password")
    places = {(p.hostname, p.port, p.path) for p in map(urlsplit, urls.values())}
    if len(places) > 1:
        found.append(f"services use different databases: {sorted(map(str, places))}")
    return found

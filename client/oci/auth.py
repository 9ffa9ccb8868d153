"""Registry credentials and the two authentication schemes of the distribution spec.

Credentials come from the docker client configuration (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``): ``credHelpers`` / ``credsStore`` (a ``docker-credential-<name>`` helper
is run with the host on stdin, as docker does), else ``auths`` entries (``auth`` = base64
``user:password``, or ``username`` / ``password``). Explicit ``--registry-username`` /
``--registry-password`` win over the file.

Challenges (``WWW-Authenticate``) are ``Basic realm=...`` (send the credentials on every request) or
``Bearer realm=...,service=...,scope=...`` (distribution token auth: GET the realm with the service
and scope, basic-authenticated when there are credentials, and use the returned ``token`` /
``access_token``). The environment is passed in by the caller; nothing here reads ``os.environ``.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Mapping
from typing import Any

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.protojson import parse_json, strict_b64decode
from sigstack.protocol.record import record

_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
_PARAM = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@record(frozen=True)
class Credentials:
    username: str
    password: str

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@record(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer" (lowercase)
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge:
    """The first challenge of a ``WWW-Authenticate`` header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


def _config_path(env: Mapping[str, str]) -> str:
    base = env.get("DOCKER_CONFIG") or os.path.join(
        env.get("HOME", os.path.expanduser("~")), ".docker"
    )
    return os.path.join(base, "config.json")


def load_config(env: Mapping[str, str]) -> dict[str, Any]:
    path = _config_path(env)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ValidationError(f"cannot read docker config {path}: {exc.strerror}") from None
    data = parse_json(raw, f"docker config {path}")
    if not isinstance(data, dict):
        raise ValidationError(f"docker config {path} is not a JSON object")
    return data


def _keys_for(registry: str) -> list[str]:
    if registry in ("index.docker.io", "docker.io", "registry-1.docker.io"):
        return list(_HUB_KEYS)
    return [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]


def _from_helper(helper: str, registry: str) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(  # noqa: S603 - the helper named by the user's docker config
            [program, "get"], input=registry.encode(), capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ValidationError(f"cannot run the credential helper {program}: {exc}") from None
    if done.returncode != 0:
        return None  # helpers exit non-zero for "credentials not found"
    try:
        obj = parse_json(done.stdout, f"the output of {program}")
        return Credentials(str(obj["Username"]), str(obj["Secret"]))
    except (ValidationError, KeyError, TypeError):
        raise ValidationError(f"{program} printed something that is not credentials") from None


def _from_entry(entry: Any, registry: str) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            auth = strict_b64decode(entry["auth"], "auth")
            user, sep, password = auth.decode().partition(":")
        except (ValidationError, ValueError):
            user, sep, password = "", "", ""
        if not sep:
            raise ValidationError(
                f"the docker config entry for {registry} has an 'auth' that is not base64 user:password"
            )
        return Credentials(user, password)
    if entry.get("username") and entry.get("password"):
        return Credentials(str(entry["username"]), str(entry["password"]))
    return None


def credentials_for(registry: str, env: Mapping[str, str]) -> Credentials | None:
    """The credentials docker would use for ``registry`` (host[:port]), or None."""
    config = load_config(env)
    keys = _keys_for(registry)
    helpers = config.get("credHelpers") or {}
    for key in keys:
        if isinstance(helpers, dict) and key in helpers:
            return _from_helper(str(helpers[key]), key)
    auths = config.get("auths") or {}
    for key in keys:
        if isinstance(auths, dict) and key in auths:
            found = _from_entry(auths[key], registry)
            if found is not None:
                return found
    if config.get("credsStore"):
        return _from_helper(str(config["credsStore"]), keys[0])
    return None

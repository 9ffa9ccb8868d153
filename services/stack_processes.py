"""``sigstack up``'s processes: the ports checked before anything starts, the services started as
``sigstack serve`` children (each with its instance id and, for those with a database, its URL in
the environment, never on a command line), the wait for every child's own /healthz answer, and
the clean stop. The services are the keys of ``urls``: ``SERVICES``, then the witness with
``--witness`` (``stack_witness``)."""

from __future__ import annotations

import argparse
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError
from sigstack.services.cli import WITH_DATABASE

from .stack_data import write_json
from .stack_witness import WITNESS, policy_environment, witness_arguments

SERVICES = ("oidc", "fulcio", "ctlog", "rekor", "tuf", "tsa", "rekor2")


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _listening(host: str, port: int) -> OSError | None:
    """Whether ``host:port`` can be listened on: None if so, else the error. SO_REUSEADDR as the
    servers set it (a port in TIME_WAIT is free), no SO_REUSEPORT (which would share a port with
    a listener that set it too)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc
    return None


def _free_base(host: str, after: int, count: int) -> int | None:
    """A port base above ``after`` whose ``count`` ports are all free now (a suggestion, not a
    promise)."""
    for base in range(after + 10, min(after + 1000, 65536 - count), 10):
        if all(_listening(host, base + i) is None for i in range(count)):
            return base
    return None


def check_ports(host: str, urls: dict[str, str], base: int) -> None:
    """Refuse to start when a port of the stack is taken: name the port, the service it was for and
    what answers there, and how to choose another base."""
    for name in urls:
        port = _port(urls[name])
        failed = _listening(host, port)
        if failed is None:
            continue
        if failed.errno != errno.EADDRINUSE:
            raise ConfigError(f"cannot listen on {host} port {port} (for {name}): "
                              f"{failed.strerror or failed}")  # fmt: skip
        other = health(urls[name])
        holder = (f"another sigstack {other['service']} answers there"
                  if isinstance(other, dict) and other.get("service")
                  else "another program listens there")  # fmt: skip
        free = _free_base(host, base, len(urls))
        hint = f" (for example {free}, free now)" if free else ""
        raise ConfigError(
            f"port {port} on {host}, which the stack's {name} needs, is in use: {holder}. Stop "
            f"it, or choose another base{hint} with `sigstack up --port-base N` or "
            f"`make up PORT_BASE=N`; the stack uses ports N to N+{len(urls) - 1}"
        )


def start(
    data: Path, urls: dict[str, str], args: argparse.Namespace, instances: dict[str, str]
) -> dict[str, subprocess.Popen[bytes]]:
    ports = {name: str(_port(urls[name])) for name in urls}
    common = ["--host", args.host, "--workers", str(args.workers)]
    fulcio_config = data / "fulcio" / "config.json"
    write_json(
        fulcio_config, {"OIDCIssuers": {urls["oidc"]: {"Type": "email", "ClientID": "sigstore"}}}
    )
    commands = {
        "oidc": ["--data-dir", str(data / "oidc"), "--issuer-url", urls["oidc"]],
        "fulcio": ["--data-dir", str(data / "fulcio"), "--config", str(fulcio_config),
                   "--ct-url", urls["ctlog"], "--ct-public-key", str(data / "ctlog" / "ctlog.pub")],
        "ctlog": ["--data-dir", str(data / "ctlog"), "--roots",
                  str(data / "fulcio" / "ca" / "root.pem")],
        "rekor": ["--data-dir", str(data / "rekor"), "--hostname", urls["rekor"].split("//")[1]],
        "tuf": ["--data-dir", str(data / "tuf")],
        "tsa": ["--data-dir", str(data / "tsa")],
        "rekor2": ["--data-dir", str(data / "rekor2")],
    }  # fmt: skip
    if args.logs_accept_only_stack_ca:  # the Fulcio chain prepare_data_dir made or kept
        for name in ("rekor", "rekor2"):
            commands[name] += ["--trusted-ca-file", str(data / "fulcio" / "ca" / "chain.pem")]
    extra_env: dict[str, dict[str, str]] = {}
    if WITNESS in urls:  # the witness, and the logs' policy naming it (stack_witness)
        commands[WITNESS] = witness_arguments(data)
        extra_env = policy_environment(data)
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    procs = {}
    for name in urls:
        argv = [sys.executable, "-m", "sigstack.client.cli", "serve", name, "--port", ports[name],
                *common, *commands[name]]  # fmt: skip
        with open(logs / f"{name}.log", "ab") as log:
            env = _child_environment(name, args.database_url, instances[name])
            env.update(extra_env.get(name, {}))
            procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env,
                                           start_new_session=True)  # fmt: skip
    return procs


def _child_environment(name: str, database_url: str | None, instance: str) -> dict[str, str]:
    """The child's environment: ours, its instance id (answered on /healthz), plus its database
    URL for the services that have one. The URL carries a password, so it never goes on a command
    line (any user can read those in /proc; a process's environment only its own user and root)."""
    env = dict(os.environ)
    env[f"SIGSTACK_{name.upper()}_INSTANCE"] = instance
    if database_url and name in WITH_DATABASE:
        env.pop(f"SIGSTACK_{name.upper()}_DATABASE_URL_FILE", None)
        env[f"SIGSTACK_{name.upper()}_DATABASE_URL"] = database_url
    return env


def health(url: str) -> Any:
    """The JSON of a 200 answer to ``GET url/healthz``; None for anything else (no answer yet)."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:  # noqa: S310 (http only)
            return json.loads(r.read(4096)) if r.status == 200 else None
    except (OSError, ValueError):
        return None


def _exited(name: str, proc: subprocess.Popen[bytes], url: str, log: Path) -> ConfigError:
    """Why a child stopped before it was ready, with the end of its log."""
    try:
        tail = log.read_text(errors="replace").splitlines()[-8:]
    except OSError:
        tail = []
    port = _port(url)
    taken = any("Address already in use" in line for line in tail)
    cause = (f": port {port} is in use; choose another base with `sigstack up --port-base N` or "
             "`make up PORT_BASE=N`" if taken else "")  # fmt: skip
    shown = "".join(f"\n  | {line}" for line in tail)
    return ConfigError(f"{name} (port {port}) exited with {proc.returncode} before it was "
                       f"ready{cause}; its log is {log}{shown}")  # fmt: skip


def wait_healthy(
    procs: dict[str, subprocess.Popen[bytes]],
    urls: dict[str, str],
    instances: dict[str, str],
    timeout: float,
    logs: Path,
) -> None:
    """Wait until every child answers /healthz with its own instance id. A 200 answer without it
    comes from a process this ``up`` did not start, which holds the port: fail at once."""
    pending = set(procs)
    deadline = time.monotonic() + timeout
    while pending:
        for name in sorted(pending):
            if procs[name].poll() is not None:
                raise _exited(name, procs[name], urls[name], logs / f"{name}.log")
            answer = health(urls[name])
            if answer is None:
                continue
            if isinstance(answer, dict) and answer.get("instance") == instances[name]:
                pending.discard(name)
                continue
            raise ConfigError(
                f"{urls[name]} (port {_port(urls[name])}) answers /healthz, but not as the {name} "
                "this `sigstack up` started: another program holds the port. Stop it, or choose "
                "another base with `sigstack up --port-base N` or `make up PORT_BASE=N`"
            )
        if pending and time.monotonic() > deadline:
            raise ConfigError(f"not healthy after {timeout:.0f}s: {', '.join(sorted(pending))} "
                              f"(logs in {logs})")  # fmt: skip
        if pending:
            time.sleep(0.05)


def stop(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

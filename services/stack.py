"""``sigstack up``: the whole stack on one machine, on the embedded default.

Order of work (each step reuses what a previous ``up`` left in DIR; keys are never made over data):
1. prepare every service's data in-process: the Fulcio CA (``fulcio/ca``), the CT log, Rekor and
   Rekor v2 keys and databases, the TSA's development chain (``tsa/chain``), the OIDC issuer's
   keys and database;
2. build ``trusted_root.json`` (Fulcio, CT log, both logs, the TSA) and two signing configs from
   those keys and the service URLs: ``signing_config.json`` (Rekor v1 and the TSA, as the public
   instance's default) and ``signing_config_rekor_v2.json`` (Rekor v2 first, then v1 under the
   same operator, and the TSA); publish them through the TUF repository in ``tuf/`` (offline keys
   in ``tuf-keys/``) as ``trusted_root.json``, ``signing_config.v0.2.json`` and
   ``signing_config_rekor_v2.v0.2.json``, the public instance's target names;
3. start oidc, fulcio, ctlog, rekor, tuf, tsa and rekor2 as ``sigstack serve`` children (ports
   N..N+6), each with a random instance id in its environment (``SIGSTACK_<SERVICE>_INSTANCE``),
   and wait until every /healthz answers with its own id: a port another program holds is never
   taken for ours;
4. make the demo user and service account once, then write ``trust_config.json`` and
   ``trust_config_rekor_v2.json`` (ClientTrustConfigs for ``--trust-config``),
   ``demo-service-account.json`` (0600) and, last, ``stack.json`` (every service's base URL);
5. wait; Ctrl-C or SIGTERM stops every service cleanly. A service that dies stops the stack.

Before step 1 the seven ports are checked (a listening socket on one of them, ours or not, stops
``up`` at once, naming the port, the service and a free base): the servers bind with SO_REUSEPORT,
so a second stack on the same ports would otherwise share them with the first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError
from sigstack.services.cli import DATABASE_URL_ENV, WITH_DATABASE

SERVICES = ("oidc", "fulcio", "ctlog", "rekor", "tuf", "tsa", "rekor2")
TSA_PATH = "/api/v1/timestamp"  # a signing config names the TSA's endpoint, not its base URL
DEMO_USER = "demo"
DEMO_ACCOUNT = "demo"
OPERATOR = "sigstack (local)"


def _write(path: Path, data: Any, mode: int = 0o644) -> None:
    """Write JSON atomically with ``mode``."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _urls(host: str, base: int) -> dict[str, str]:
    shown = f"[{host}]" if ":" in host else host
    return {name: f"http://{shown}:{base + i}" for i, name in enumerate(SERVICES)}


def _configure_logs(data: Path, urls: dict[str, str], database_url: str | None) -> dict[str, Any]:
    """CT log, Rekor and Rekor v2: keys, databases and trees; the TSA's chain. Returns the logs'
    public keys (PEM), the v2 log's origin and the TSA chain (PEM)."""
    from sigstack.services.ctlog.serve import configure as configure_ctlog
    from sigstack.services.keys import load_signer
    from sigstack.services.rekor.serve import configure as configure_rekor
    from sigstack.services.rekor2.serve import configure as configure_rekor2
    from sigstack.services.tsa.serve import prepare_data_dir as prepare_tsa_dir

    rekor = configure_rekor(str(data / "rekor"), database_url=database_url)
    ctlog = configure_ctlog(str(data / "ctlog"), database_url=database_url,
                            roots_file=str(data / "fulcio" / "ca" / "root.pem"))  # fmt: skip
    # a new v2 log is named HOST:PORT, as `sigstack serve rekor2` names it; the database keeps it
    rekor2 = configure_rekor2(str(data / "rekor2"), database_url=database_url,
                              default_origin=urls["rekor2"].split("//", 1)[1])  # fmt: skip
    _key_uri, chain = prepare_tsa_dir(data / "tsa")
    return {"rekor": load_signer(rekor.key_uri).public_pem,
            "ctlog": load_signer(ctlog.key_uri).public_pem,
            "rekor2": load_signer(rekor2.key_uri).public_pem,
            "rekor2_origin": rekor2.origin,
            "tsa_chain": Path(chain).read_bytes()}  # fmt: skip


def _trust_documents(
    data: Path, urls: dict[str, str], keys: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The trusted root and the two signing configs (``default``: Rekor v1 + TSA; ``rekor_v2``:
    Rekor v2, then v1, + TSA) for the current keys.

    A later ``up`` whose CA chain, TSA chain or log keys changed (an operator rotated one), or that
    meets a service an older ``up`` did not run, keeps the published entries, closes the replaced
    ones' windows now and adds the new ones, so older signatures keep verifying.
    """
    from sigstack.services.tuf import trustroot

    chain = (data / "fulcio" / "ca" / "chain.pem").read_bytes()
    path = data / "trusted_root.json"
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=5)
    tsa_url = urls["tsa"] + TSA_PATH

    def build(valid_from: dt.datetime) -> dict[str, Any]:
        return trustroot.build_trusted_root(
            fulcio_chain_pem=chain, fulcio_url=urls["fulcio"], ctlog_public_key=keys["ctlog"],
            ctlog_url=urls["ctlog"], rekor_public_key=keys["rekor"], rekor_url=urls["rekor"],
            tsa_chain_pem=keys["tsa_chain"], tsa_url=tsa_url,
            rekor_v2=trustroot.RekorV2(keys["rekor2"], urls["rekor2"], keys["rekor2_origin"]),
            valid_from=valid_from,
        )  # fmt: skip

    if not path.exists():
        root = build(start)
    else:
        root, current = json.loads(path.read_text()), build(now)
        for kind in trustroot.KINDS:
            for entry in current[kind]:
                if not any(
                    _identity(kind, e) == _identity(kind, entry) for e in root.get(kind, [])
                ):
                    root = trustroot.rotate(root, kind, entry, now)
    common = {"ca_urls": [urls["fulcio"]], "oidc_urls": [urls["oidc"]], "tsa_urls": [tsa_url],
              "operator": OPERATOR, "valid_from": start}  # fmt: skip
    signing = {
        "default": trustroot.build_signing_config(rekor_urls=[urls["rekor"]], **common),
        "rekor_v2": trustroot.build_signing_config(
            rekor_v2_urls=[urls["rekor2"]], rekor_urls=[urls["rekor"]], **common
        ),
    }
    for name, fresh in signing.items():
        old_signing = data / SIGNING_FILES[name]
        if old_signing.exists():
            previous = json.loads(old_signing.read_text())
            if _service_urls(previous) == _service_urls(fresh):
                signing[name] = previous  # the same services: keep their windows' start
    return root, signing


SIGNING_FILES = {"default": "signing_config.json", "rekor_v2": "signing_config_rekor_v2.json"}
TRUST_FILES = {"default": "trust_config.json", "rekor_v2": "trust_config_rekor_v2.json"}
TUF_SIGNING_TARGETS = {
    "default": "signing_config.v0.2.json",
    "rekor_v2": "signing_config_rekor_v2.v0.2.json",
}


def _identity(kind: str, entry: dict[str, Any]) -> Any:
    if kind in ("tlogs", "ctlogs"):
        return entry["publicKey"]["rawBytes"]
    return [c["rawBytes"] for c in entry["certChain"]["certificates"]]


def _service_urls(signing: dict[str, Any]) -> Any:
    return [
        [(s["url"], s.get("majorApiVersion")) for s in signing.get(k, [])]
        for k in ("caUrls", "oidcUrls", "rekorTlogUrls", "tsaUrls")
    ]


def _publish_tuf(data: Path, root: Any, signing: dict[str, Any]) -> None:
    from sigstack.services.tuf.keys import open_signer
    from sigstack.services.tuf.repo import Repository

    repo_dir, key_dir = data / "tuf", data / "tuf-keys"
    repo = Repository(repo_dir)
    if not (repo_dir / "public" / "1.root.json").exists():
        repo.init(key_dir)
    wanted = {"trusted_root.json": json.dumps(root, indent=2).encode()}
    for name, target in TUF_SIGNING_TARGETS.items():
        wanted[target] = json.dumps(signing[name], indent=2).encode()
    targets = repo.published("targets").signed.targets
    changed = False
    for name, content in wanted.items():
        current = targets.get(name)
        if current is None or current.hashes.get("sha256") != hashlib.sha256(content).hexdigest():
            repo.add_target(name, content)
            changed = True
    if changed:
        repo.sign("targets", open_signer(str(key_dir / "targets-1.pem")))
        repo.publish()
    (repo_dir / "root.json").write_bytes((repo_dir / "public" / "1.root.json").read_bytes())


def _demo_identities(data: Path, urls: dict[str, str], database_url: str | None) -> dict[str, Any]:
    """The demo user (password printed once) and service account (secret in a 0600 file)."""
    from sigstack.services.oidc import app as oidc_app
    from sigstack.services.oidc.cli import create_service_account, create_user

    config = oidc_app.load({"data_dir": str(data / "oidc"), "database_url": database_url,
                            "issuer_url": urls["oidc"]})  # fmt: skip
    store = oidc_app.prepare(config)
    out: dict[str, Any] = {}
    if store.user_by_name(DEMO_USER) is None:
        password = secrets.token_urlsafe(12)
        create_user(store, DEMO_USER, "demo@sigstack.local", password)
        out["password"] = password
    account = data / "demo-service-account.json"
    if store.service_account_by_name(DEMO_ACCOUNT) is None:
        email, client_id, secret = create_service_account(store, config, DEMO_ACCOUNT)
        _write(account, {"client_id": client_id, "client_secret": secret,
                         "token_endpoint": f"{urls['oidc']}/token", "email": email}, 0o600)  # fmt: skip
    elif not account.exists():
        raise ConfigError(f"{account} is missing and its secret cannot be shown again")
    out["account"] = json.loads(account.read_text())
    return out


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


def _free_base(host: str, after: int) -> int | None:
    """A port base above ``after`` whose ports are all free now (a suggestion, not a promise)."""
    for base in range(after + 10, min(after + 1000, 65530), 10):
        if all(_listening(host, base + i) is None for i in range(len(SERVICES))):
            return base
    return None


def _check_ports(host: str, urls: dict[str, str], base: int) -> None:
    """Refuse to start when a port of the stack is taken: name the port, the service it was for and
    what answers there, and how to choose another base."""
    for name in SERVICES:
        port = _port(urls[name])
        failed = _listening(host, port)
        if failed is None:
            continue
        if failed.errno != errno.EADDRINUSE:
            raise ConfigError(f"cannot listen on {host} port {port} (for {name}): "
                              f"{failed.strerror or failed}")  # fmt: skip
        other = _health(urls[name])
        holder = (f"another sigstack {other['service']} answers there"
                  if isinstance(other, dict) and other.get("service")
                  else "another program listens there")  # fmt: skip
        free = _free_base(host, base)
        hint = f" (for example {free}, free now)" if free else ""
        raise ConfigError(
            f"port {port} on {host}, which the stack's {name} needs, is in use: {holder}. Stop "
            f"it, or choose another base{hint} with `sigstack up --port-base N` or "
            f"`make up PORT_BASE=N`; the stack uses ports N to N+{len(SERVICES) - 1}"
        )


def _start(
    data: Path, urls: dict[str, str], args: argparse.Namespace, instances: dict[str, str]
) -> dict[str, subprocess.Popen]:
    ports = {name: str(_port(urls[name])) for name in SERVICES}
    common = ["--host", args.host, "--workers", str(args.workers)]
    fulcio_config = data / "fulcio" / "config.json"
    _write(
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
    logs = data / "logs"
    logs.mkdir(exist_ok=True)
    procs = {}
    for name in SERVICES:
        argv = [sys.executable, "-m", "sigstack.client.cli", "serve", name, "--port", ports[name],
                *common, *commands[name]]  # fmt: skip
        with open(logs / f"{name}.log", "ab") as log:
            env = _child_environment(name, args.database_url, instances[name])
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


def _health(url: str) -> Any:
    """The JSON of a 200 answer to ``GET url/healthz``; None for anything else (no answer yet)."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:  # noqa: S310 (http only)
            return json.loads(r.read(4096)) if r.status == 200 else None
    except (OSError, ValueError):
        return None


def _exited(name: str, proc: subprocess.Popen, url: str, log: Path) -> ConfigError:
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


def _wait_healthy(
    procs: dict[str, subprocess.Popen],
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
            answer = _health(urls[name])
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


def _stop(procs: dict[str, subprocess.Popen]) -> None:
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


def _port_base(text: str) -> int:
    try:
        base = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= base <= 65535 - (len(SERVICES) - 1):
        raise argparse.ArgumentTypeError(f"ports {base}..{base + len(SERVICES) - 1} do not exist")
    return base


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sigstack up", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="./data", type=Path,
                   help="keys, databases, trust documents and logs (default ./data)")  # fmt: skip
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port-base", type=_port_base, default=5550, metavar="N",
                   help="oidc N, fulcio N+1, ctlog N+2, rekor N+3, tuf N+4, tsa N+5, rekor2 N+6 "
                   "(default 5550)")  # fmt: skip
    p.add_argument("--database-url", help=f"PostgreSQL for every service (default: "
                   f"${DATABASE_URL_ENV}, else SQLite in DIR; the environment keeps the password "
                   "off the command line)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="server worker processes per service")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health")
    p.add_argument("--demo", action="store_true", help="sign and verify a file once ready")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    started = time.monotonic()
    from_env = not args.database_url and bool(os.environ.get(DATABASE_URL_ENV))
    args.database_url = args.database_url or os.environ.get(DATABASE_URL_ENV) or None
    urls = _urls(args.host, args.port_base)
    _check_ports(args.host, urls, args.port_base)  # before anything is made or started
    data = args.data_dir.resolve()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    (data / "stack.json").unlink(missing_ok=True)
    from sigstack.services.fulcio.serve import prepare_data_dir

    prepare_data_dir(data / "fulcio")
    from sqlalchemy.exc import OperationalError

    from sigstack.services.oidc import app as oidc_app

    try:
        keys = _configure_logs(data, urls, args.database_url)
        oidc_app.prepare(oidc_app.load({"data_dir": str(data / "oidc"),
                                        "database_url": args.database_url}))  # fmt: skip
    except OperationalError as exc:  # the message names host and port, never the password
        given = f"${DATABASE_URL_ENV}" if from_env else "--database-url"
        cause = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot use the database {given} names: {cause}") from None
    root, signing = _trust_documents(data, urls, keys)
    _publish_tuf(data, root, signing)
    instances = {name: f"up-{secrets.token_hex(16)}" for name in SERVICES}
    procs = _start(data, urls, args, instances)
    stopping = {"now": False}

    def _on_signal(signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        _wait_healthy(procs, urls, instances, args.timeout, data / "logs")
        demo = _demo_identities(data, urls, args.database_url)
        from sigstack.services.tuf.trustroot import build_client_trust_config

        _write(data / "trusted_root.json", root)
        for name, config in signing.items():
            _write(data / SIGNING_FILES[name], config)
            _write(data / TRUST_FILES[name], build_client_trust_config(root, config))
        _write(data / "stack.json", urls)
        from . import stack_report

        database = None
        if args.database_url:
            database = f"${DATABASE_URL_ENV}" if from_env else "the --database-url database"
        stack_report.ready(data, urls, demo, time.monotonic() - started, database)
        if args.demo:
            stack_report.demo(data, urls, demo["account"])
        while not stopping["now"]:
            dead = [n for n, p in procs.items() if p.poll() is not None]
            if dead:
                raise ConfigError(f"{', '.join(dead)} stopped unexpectedly: see {data / 'logs'}")
            time.sleep(0.2)
        print("stopping...", flush=True)
        return 0
    finally:
        _stop(procs)
        (data / "stack.json").unlink(missing_ok=True)

"""``sigstack up``: the whole stack on one machine, on the embedded default.

Order of work (each step reuses what a previous ``up`` left in DIR; keys are never made over data):
1. configure every service's data in-process (``stack_data``): the Fulcio CA (``fulcio/ca``), the
   CT log, Rekor and Rekor v2 keys and databases, the TSA's development chain (``tsa/chain``), the
   OIDC issuer's keys and database;
2. build ``trusted_root.json`` (Fulcio, CT log, both logs, the TSA) and two signing configs from
   those keys and the service URLs: ``signing_config.json`` (Rekor v1 and the TSA, as the public
   instance's default) and ``signing_config_rekor_v2.json`` (Rekor v2 first, then v1 under the
   same operator, and the TSA); publish them through the TUF repository in ``tuf/`` (offline keys
   in ``tuf-keys/``) as ``trusted_root.json``, ``signing_config.v0.2.json`` and
   ``signing_config_rekor_v2.v0.2.json``, the public instance's target names (``stack_trust``);
3. start oidc, fulcio, ctlog, rekor, tuf, tsa and rekor2 as ``sigstack serve`` children (ports
   N..N+6; with ``--witness`` also a witness on N+7 that the two Rekor logs submit their
   checkpoints to, its data and ``witness-policy.txt`` made before, ``stack_witness``), each with a random instance id in its environment (``SIGSTACK_<SERVICE>_INSTANCE``),
   and wait until every /healthz answers with its own id: a port another program holds is never
   taken for ours (``stack_processes``);
4. make the demo user and service account once, then write ``trust_config.json`` and
   ``trust_config_rekor_v2.json`` (ClientTrustConfigs for ``--trust-config``),
   ``demo-service-account.json`` (0600); print what is up and how to use it (``stack_report``)
   and, last, write ``stack.json`` (every service's base URL), so that whoever waits for it finds
   the report printed;
5. wait; Ctrl-C or SIGTERM stops every service cleanly. A service that dies stops the stack.

Before step 1 the seven (eight) ports are checked (a listening socket on one of them, ours or not, stops
``up`` at once, naming the port, the service and a free base): the servers bind with SO_REUSEPORT,
so a second stack on the same ports would otherwise share them with the first.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import time
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError
from sigstack.services.cli import DATABASE_URL_ENV

from .stack_data import configure_logs, configure_oidc, demo_identities, write_json
from .stack_processes import SERVICES, check_ports, start, stop, wait_healthy
from .stack_trust import SIGNING_FILES, TRUST_FILES, publish_tuf, trust_documents
from .stack_witness import POLICY_FILE, WITNESS, configure_witness


def _urls(host: str, base: int, witness: bool = False) -> dict[str, str]:
    shown = f"[{host}]" if ":" in host else host
    names = (*SERVICES, WITNESS) if witness else SERVICES
    return {name: f"http://{shown}:{base + i}" for i, name in enumerate(names)}


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
                   help="oidc N, fulcio N+1, ctlog N+2, rekor N+3, tuf N+4, tsa N+5, rekor2 N+6, "
                   "witness N+7 with --witness (default 5550)")  # fmt: skip
    p.add_argument("--database-url", help=f"PostgreSQL for every service (default: "
                   f"${DATABASE_URL_ENV}, else SQLite in DIR; the environment keeps the password "
                   "off the command line)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="server worker processes per service")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for health")
    p.add_argument("--demo", action="store_true", help="sign and verify a file once ready")
    p.add_argument("--logs-accept-only-stack-ca", action="store_true",
                   help="Rekor v1 and v2 log only entries whose certificate the stack's Fulcio "
                   "issued (their trusted_ca_file; docs/rekor.md)")  # fmt: skip
    p.add_argument("--witness", action="store_true",
                   help="also run a witness on N+7; Rekor v1 and v2 have it cosign every "
                   "checkpoint (fail-open), clients verify with --witness-policy "
                   f"DIR/{POLICY_FILE} (docs/witness.md)")  # fmt: skip
    args = p.parse_args(argv)
    if args.witness and args.port_base + len(SERVICES) > 65535:
        p.error(f"port {args.port_base + len(SERVICES)} (the witness) does not exist")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    started = time.monotonic()
    from_env = not args.database_url and bool(os.environ.get(DATABASE_URL_ENV))
    args.database_url = args.database_url or os.environ.get(DATABASE_URL_ENV) or None
    urls = _urls(args.host, args.port_base, args.witness)
    check_ports(args.host, urls, args.port_base)  # before anything is made or started
    data = args.data_dir.resolve()
    data.mkdir(mode=0o700, parents=True, exist_ok=True)
    (data / "stack.json").unlink(missing_ok=True)
    from sigstack.services.fulcio.serve import prepare_data_dir

    prepare_data_dir(data / "fulcio")
    from sqlalchemy.exc import OperationalError

    try:
        keys = configure_logs(data, urls, args.database_url)
        configure_oidc(data, args.database_url)
        if args.witness:
            configure_witness(data, urls, keys, args.database_url)
    except OperationalError as exc:  # the message names host and port, never the password
        given = f"${DATABASE_URL_ENV}" if from_env else "--database-url"
        cause = str(exc.orig or exc).strip().splitlines()[0]
        raise ConfigError(f"cannot use the database {given} names: {cause}") from None
    root, signing = trust_documents(data, urls, keys)
    publish_tuf(data, root, signing)
    instances = {name: f"up-{secrets.token_hex(16)}" for name in urls}
    procs = start(data, urls, args, instances)
    stopping = {"now": False}

    def _on_signal(_signum: int, _frame: Any) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        wait_healthy(procs, urls, instances, args.timeout, data / "logs")
        demo = demo_identities(data, urls, args.database_url)
        from sigstack.services.tuf.trustroot import build_client_trust_config

        write_json(data / "trusted_root.json", root)
        for name, config in signing.items():
            write_json(data / SIGNING_FILES[name], config)
            write_json(data / TRUST_FILES[name], build_client_trust_config(root, config))
        from . import stack_report

        database = None
        if args.database_url:
            database = f"${DATABASE_URL_ENV}" if from_env else "the --database-url database"
        policy = data / POLICY_FILE if args.witness else None
        stack_report.ready(data, urls, demo, time.monotonic() - started, database, policy)
        # last: a script that waits for stack.json finds the ready report printed in full
        write_json(data / "stack.json", urls)
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
        stop(procs)
        (data / "stack.json").unlink(missing_ok=True)

"""``sigstack monitor``: follow transparency logs, check their consistency, report watched entries.

Thin: parse the flags, load the configuration, the trusted root and the state, run
``Monitor`` once (``--once``, for cron) or every ``--interval`` seconds until SIGTERM/SIGINT.

Exit status with ``--once``: 0 nothing found; 3 a watched entry was found (``match`` alerts
only); 4 the log misbehaved (fork, rollback, bad signature or checkpoint, unprovable, entries
mismatch), with or without matches; 1 a log could not be checked (unreachable, refused; said on
stderr) and nothing was found, or the configuration is wrong; 2 a usage error. The long-running
mode exits 0 when stopped.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import threading

from sigstack.client.commands.common import ArgumentParser, add_trust_flags, trust_options
from sigstack.protocol.errors import ConfigError

EXIT_ERROR = 1
EXIT_MATCH = 3
EXIT_INTEGRITY = 4


def _parser() -> ArgumentParser:
    p = ArgumentParser("monitor", "Follow Rekor, tlog-tiles and CT logs: prove each new "
                       "checkpoint consistent with the last one and report entries that match "
                       "the watch list, as JSON lines on stdout (docs/monitor.md).")  # fmt: skip
    p.add_argument(
        "--config", required=True, metavar="FILE", help="the monitor configuration (JSON)"
    )
    p.add_argument("--state", metavar="FILE", help="state file (default: the configuration's)")
    p.add_argument("--once", action="store_true",
                   help="check every log once and exit (status: 0 nothing found, 3 matches, "
                        "4 the log misbehaved, 1 a log could not be checked)")  # fmt: skip
    p.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="seconds between runs without --once (default: the configuration's, 300)",
    )
    p.add_argument("--compare-checkpoint", action="append", default=[], metavar="PATH",
                   help="a file or directory of checkpoints others saw (signed notes, Rekor "
                        "log infos, CT STHs); a fork with them is an alert (repeatable)")  # fmt: skip
    p.add_argument("--webhook", metavar="URL", help="POST every alert to URL as JSON")
    p.add_argument(
        "--metrics-file",
        metavar="FILE",
        help="write Prometheus metrics to FILE after every run (textfile collector)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on PORT (needs prometheus_client)",
    )
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port")
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    add_trust_flags(p)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    from sigstack.client import trust

    from .alerts import INTEGRITY, MATCH, Sink
    from .config import MonitorConfig, webhook
    from .metrics import serve
    from .monitor import Monitor
    from .state import StateFile, locked

    config = MonitorConfig.from_file(args.config)
    state_path = args.state or config.state
    if not state_path:
        raise ConfigError('give --state FILE (or "state" in the configuration)')
    opts = trust_options(args)
    if not (opts.trusted_root or opts.trust_config) and config.trusted_root:
        opts = dataclasses.replace(opts, trusted_root=config.trusted_root)
    root = trust.trusted_root(opts)
    hook = webhook(args.webhook) if args.webhook else config.webhook
    stop = threading.Event()
    with locked(state_path):
        state = StateFile(state_path).load()
        monitor = Monitor(config, root, state, Sink(sys.stdout, hook), compare=args.compare_checkpoint,
                          metrics_file=args.metrics_file, stop=stop, timeout=args.timeout)  # fmt: skip
        if args.once:
            monitor.run_once()
            if monitor.alerted(INTEGRITY):
                return EXIT_INTEGRITY
            if monitor.alerted((MATCH,)):
                return EXIT_MATCH
            return EXIT_ERROR if monitor.errors else 0
        server = None
        if args.metrics_port is not None:
            server = serve(args.metrics_host, args.metrics_port, lambda: monitor.snapshot)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            monitor.run_forever(args.interval or config.interval)
        finally:
            if server is not None:
                server[0].shutdown()
    return 0

"""A transparency-log monitor: follows Rekor v1 (its API, or its tiles alone, as a mirror serves
them), C2SP tlog-tiles logs (Rekor v2) and RFC 6962 CT logs, each identified by its trusted-root
entry.

It keeps the last verified checkpoint of each log and proves every new one consistent with it
(a rollback, a fork, a bad signature or an unprovable jump is an alert, also against checkpoints
others saw: files, witnesses), reads the entries in between, checks that they hash to the signed
root, and reports those matching a watch list (identities, issuers, certificate extensions, key
fingerprints, artifact digests). Library first: ``Monitor`` with a ``MonitorConfig``, a
``TrustedRoot``, a ``StateFile`` and a ``Sink``; ``sigstack monitor`` (``cli``) is a thin front.

Modules: ``tree`` (compact ranges), ``tiles`` (tlog-tiles arithmetic), ``entries`` (what an
entry names), ``watch`` (the rules), ``heads`` (checkpoint verification and comparison) are pure;
``logs`` (HTTP), ``state`` (the state file), ``alerts`` (stdout, webhook), ``metrics``
(Prometheus) are the adapters; ``monitor`` runs them. It reads logs only and imports nothing of
the services (docs/monitor.md).
"""

from .alerts import Alert, Sink
from .config import LogSpec, MonitorConfig
from .monitor import Monitor
from .state import StateFile
from .watch import WatchList

__all__ = ["Alert", "LogSpec", "Monitor", "MonitorConfig", "Sink", "StateFile", "WatchList"]

"""Alerts: what the monitor found, as JSON lines on stdout and optionally POSTed to a webhook.

Types (docs/monitor.md has the JSON shape):

* ``match``: an entry matched the watch list (log index, entry UUID = hex leaf hash, the rules
  that matched, the matched certificates' identities and fingerprints);
* about the log itself, each with the checkpoint the monitor trusted and the one it was shown
  (both signed: the evidence), and where the latter came from (``source``: ``log``,
  ``compare:<file>``, ``witness:<url>``):
  ``fork`` (same size, another root), ``rollback`` (a smaller tree than one the log signed
  before), ``unprovable`` (no valid consistency proof between the two), ``bad_signature`` (not
  signed by the trusted key), ``bad_checkpoint`` (signed, but for another origin, or
  malformed), ``entries_mismatch`` (the entries the log served do not hash to its signed root).

The webhook gets one POST per alert (``application/json``, the same object as the line). A
webhook that fails (network, non-2xx) is counted and reported on stderr, and never stops the
monitor: the line on stdout is the record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

from sigstack.protocol.errors import Error
from sigstack.protocol.record import record

from .config import Webhook
from .heads import Head

MATCH = "match"
INTEGRITY = ("fork", "rollback", "unprovable", "bad_signature", "bad_checkpoint",
             "entries_mismatch")  # fmt: skip
TYPES = (MATCH, *INTEGRITY)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@record(frozen=True)
class Alert:
    type: str
    log: str
    message: str
    url: str = ""
    index: int | None = None
    uuid: str | None = None
    kind: str | None = None
    matches: tuple[dict[str, str], ...] = ()  # the watch-list rules matched (watch.match)
    certificates: tuple[dict[str, Any], ...] = ()
    trusted: Head | None = None
    seen: Head | None = None
    source: str = "log"
    seen_text: str | None = None  # what was shown when it does not even parse

    def to_json(self, when: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"time": when or _now(), "type": self.type, "log": self.log,
                               "url": self.url, "message": self.message}  # fmt: skip
        if self.type == MATCH:
            out.update(index=self.index, uuid=self.uuid, kind=self.kind,
                       matches=list(self.matches), certificates=list(self.certificates))  # fmt: skip
        else:
            out["source"] = self.source
            out["trusted"] = None if self.trusted is None else self.trusted.to_json()
            out["seen"] = (
                self.seen.to_json()
                if self.seen is not None
                else (
                    None
                    if self.seen_text is None
                    else {"size": None, "root": None, "checkpoint": self.seen_text}
                )
            )
        return out


Post = Callable[[str, bytes, dict[str, str], float], int]


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    from sigstack.client.http import request

    status, _ = request("POST", url, body, headers, timeout=timeout)
    return status


class Sink:
    """Writes alerts to ``out`` and the webhook; counts what it sent and what failed."""

    def __init__(
        self, out: TextIO, webhook: Webhook | None = None, post: Post = _post,
        err: TextIO | None = None,
    ) -> None:  # fmt: skip
        self.out = out
        self.err = err or sys.stderr
        self.webhook = webhook
        self._post = post
        self.sent = 0
        self.failed = 0
        self.by_type: dict[str, int] = {}

    def emit(self, alert: Alert) -> None:
        doc = alert.to_json()
        line = json.dumps(doc, separators=(",", ":"))
        self.out.write(line + "\n")
        self.out.flush()
        self.by_type[alert.type] = self.by_type.get(alert.type, 0) + 1
        if self.webhook is not None:
            self._send(line.encode())

    def _send(self, body: bytes) -> None:
        assert self.webhook is not None
        headers = {"Content-Type": "application/json", **dict(self.webhook.headers)}
        try:
            status = self._post(self.webhook.url, body, headers, self.webhook.timeout)
            reason = f"HTTP {status}"
        except Error as exc:
            status, reason = 0, exc.message
        if 200 <= status < 300:
            self.sent += 1
            return
        self.failed += 1
        print(f"monitor: the webhook did not take an alert: {reason}", file=self.err, flush=True)

"""A log's side of C2SP tlog-witness: get a new checkpoint cosigned by the witnesses of a C2SP
tlog-policy before it is published (docs/witness.md, "Our logs call their witnesses").

``Witnesses(policy, log_name, ...)`` holds one ``services.witness.client.WitnessClient`` per
witness of the policy (each must have a URL there). ``cosign(signed, proofs)`` sends the signed
checkpoint to every witness at once, each request with the old size that witness last cosigned
(the client keeps it per witness; a 409 tells the size it really holds and the request is sent
again from there with a consistency proof from ``proofs(old, new)``, the log's own tiles), keeps
the cosignature lines that verify with the witness's key, and decides:

- the quorum is met: the checkpoint with the lines appended (in policy order) is published;
- it is not, and the log fails open (``fail_open``): the checkpoint is published with the lines
  it got (perhaps none), counted in ``sigstack_witness_quorum_missed_total{log,action="published"}``
  and logged; clients with a policy refuse bundles that carry it;
- it is not, and the log fails closed: nothing is published (``Cosigning.note`` None), counted
  with ``action="withheld"``; the publisher tries again later (``services.tlog.publish``).

Every answer is counted in ``sigstack_witness_submissions_total{log,witness,result}``: ``cosigned``,
``unreachable`` (no answer within the timeout), ``conflict`` (409: it holds a larger tree of
this log, evidence of a fork or of another worker ahead of this one), ``refused`` (another
status: 422 for an unproven or inconsistent checkpoint, 403/404 for an unknown log or key) or
``invalid`` (an answer that is not a valid cosignature). Refusals are logged on
``sigstack.tlog.witness`` with the witness's name and reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sigstack.protocol import note
from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.protocol.policy import TlogPolicy
from sigstack.services.runtime.observe import WITNESS_QUORUM_MISSED as QUORUM_MISSED
from sigstack.services.runtime.observe import WITNESS_SUBMISSIONS as SUBMISSIONS
from sigstack.services.witness.client import Refused, WitnessClient

log = logging.getLogger("sigstack.tlog.witness")

Proofs = Callable[[int, int], Sequence[bytes]]


@dataclass(frozen=True)
class Cosigning:
    """What ``cosign`` decided: ``note`` to publish (None: withheld), the witnesses (policy
    names) that cosigned it, and ``behind``: a witness holds a larger tree of this log."""

    note: str | None
    cosigned: tuple[str, ...]
    behind: bool = False


def _result(exc: Refused) -> str:
    if exc.status == 0:
        return "unreachable"
    if exc.status == 200:
        return "invalid"
    return "conflict" if exc.status == 409 else "refused"


def load_policy(path: str) -> TlogPolicy:
    """The log's witness policy file; ``ConfigError`` when it is unreadable, malformed, or names
    a witness without a URL."""
    try:
        policy = TlogPolicy.from_file(path)
    except ValidationError as exc:
        raise ConfigError(f"witness_policy: {exc.message}") from None
    missing = [name for name in policy.witnesses if name not in policy.urls]
    if missing:
        raise ConfigError(
            f"witness_policy {path}: the log must reach every witness; give "
            f"{', '.join(missing)} a URL ('witness <name> <vkey> <url>')"
        )
    return policy


class Witnesses:
    def __init__(
        self, policy: TlogPolicy, log_name: str, *, fail_open: bool, timeout: float = 5.0
    ) -> None:
        self.policy = policy
        self.log_name = log_name
        self.fail_open = fail_open
        self.clients = {
            name: WitnessClient(policy.urls[name], timeout=timeout, verifier=verifier)
            for name, verifier in policy.witnesses.items()
        }
        self._pool: ThreadPoolExecutor | None = None

    def _ask(self, name: str, signed: str, proofs: Proofs) -> tuple[str | None, bool]:
        """(the witness's verified line(s) or None, whether it holds a larger tree)."""
        client = self.clients[name]
        try:
            lines = client.submit(signed, proofs)
        except Refused as exc:
            SUBMISSIONS.labels(self.log_name, name, _result(exc)).inc()
            log.warning("witness %s (%s) did not cosign the checkpoint: %s",
                        name, client.url, exc.message)  # fmt: skip
            if exc.status == 409 and exc.size is not None:
                client.known_size = exc.size  # the next checkpoint is sent from there
            return None, exc.status == 409 and exc.size is not None
        except Exception:  # noqa: BLE001 - one witness's failure is that witness's, never the log's
            SUBMISSIONS.labels(self.log_name, name, "unreachable").inc()
            log.exception("witness %s (%s) could not be asked", name, client.url)
            return None, False
        SUBMISSIONS.labels(self.log_name, name, "cosigned").inc()
        return lines, False

    def cosign(self, signed: str, proofs: Proofs) -> Cosigning:
        """Have the policy's witnesses cosign ``signed`` (the log-signed checkpoint note)."""
        if self._pool is None:  # made in the process that uses it (workers fork after start)
            self._pool = ThreadPoolExecutor(max(1, len(self.clients)), "tlog-witness")
        names = list(self.clients)
        answers = list(self._pool.map(lambda n: self._ask(n, signed, proofs), names))
        lines = {n: a for n, (a, _) in zip(names, answers, strict=True) if a is not None}
        behind = any(b for _, b in answers)
        cosigned = tuple(lines)
        appended = signed + "".join(lines.values())
        if self.policy.quorum_met(set(cosigned)):
            return Cosigning(appended, cosigned, behind)
        size = _size(signed)
        action = "published" if self.fail_open else "withheld"
        QUORUM_MISSED.labels(self.log_name, action).inc()
        quorum = self.policy.describe(self.policy.quorum or "")
        log.warning(
            "checkpoint of %s at size %d %s without the witness quorum %s (cosigned by: %s)",
            self.log_name, size, action, quorum, ", ".join(cosigned) or "none",
        )  # fmt: skip
        return Cosigning(appended if self.fail_open else None, cosigned, behind)


def _size(signed: str) -> int:
    try:
        return note.Checkpoint.from_text(note.SignedNote.from_text(signed).text).size
    except ValidationError:
        return -1

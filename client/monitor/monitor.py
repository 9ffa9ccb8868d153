"""One monitor run over every configured log, and the loop that repeats it.

For each log, in this order (spec witness-monitor section 7):

1. read the checkpoints others saw (``compare`` files and directories, the log's witnesses)
   before the log's own, so an honest log's current tree is at least as large as any of them;
2. fetch the log's checkpoint and verify it with the trusted-root key (else ``bad_signature`` /
   ``bad_checkpoint``); the first one is trusted on first use (its signature is verified, there is
   nothing to be consistent with) and pins the origin (another one later is ``bad_checkpoint``);
3. relate it to the stored one: same size and root, nothing to do; same size and another root,
   ``fork``; smaller, ``rollback``; larger, a consistency proof from the log, verified, or
   ``unprovable``. Only a proven checkpoint replaces the stored one; after an alert the stored one
   stays, so the alert repeats every run until someone looks;
4. relate each checkpoint of others to the trusted one the same way (a larger one the log no
   longer shows is a ``rollback``; a smaller one it cannot prove, ``unprovable``), remembering
   those proven so they are not proven again;
5. if there is a watch list, read the entries from where the last run stopped to the verified
   size, match them (``match`` alerts), hash them into the ``Frontier`` and check its root against
   the signed one (``entries_mismatch``: the log served entries that are not in its tree). The
   state is saved every few seconds of a long scan, so a restart goes on from there.

Network trouble (``UnavailableError``) and refusals are not alerts: the log is skipped this run,
counted in ``errors`` and said on stderr. Alerts go out as they are found (at least once: an alert
found after the last save may be found again after a crash).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sigstack.protocol import merkle
from sigstack.protocol.errors import ConfigError, Error, UnavailableError, ValidationError
from sigstack.protocol.trust import TrustedRoot

from . import metrics
from .alerts import INTEGRITY, MATCH, Alert, Sink
from .config import LogSpec, MonitorConfig, resolve_key
from .heads import (
    BEHIND,
    EXTENDS,
    FORK,
    SAME,
    CheckpointError,
    Head,
    LogKey,
    claims,
    parse_evidence,
    peek,
    relate,
)
from .logs import LogReader, reader_for
from .state import LogState, StateFile
from .tree import Frontier

SAVE_EVERY = 5.0  # seconds between saves of a long scan's progress


class Monitor:
    def __init__(
        self,
        config: MonitorConfig,
        root: TrustedRoot,
        state: StateFile,
        sink: Sink,
        *,
        compare: Sequence[str] = (),
        metrics_file: str | None = None,
        err: TextIO | None = None,
        stop: threading.Event | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.config = config
        self.state = state
        self.sink = sink
        self.compare = (*config.compare, *compare)
        self.metrics_file = metrics_file
        self.err = err or sys.stderr
        self.stop = stop or threading.Event()
        self.logs: list[tuple[LogSpec, LogKey, LogReader]] = [
            (spec, resolve_key(spec, root), reader_for(spec, timeout)) for spec in config.logs
        ]
        self.snapshot: list[metrics.Family] = []
        self._webhook_base = (state.counters.get("webhook_sent", 0),
                              state.counters.get("webhook_failures", 0))  # fmt: skip
        self.found: dict[str, int] = {}  # alerts of this process, by type
        self.errors = 0

    # --- runs -----------------------------------------------------------------------------------

    def run_once(self) -> None:
        for spec, key, reader in self.logs:
            if self.stop.is_set():
                break
            state = self.state.log(spec.name, key.log_id, spec.url)
            try:
                self._check(spec, key, reader, state)
                state.counters["last_success"] = int(time.time())
            except (ConfigError, KeyboardInterrupt):
                raise
            except Error as exc:
                state.count("errors")
                self.errors += 1
                self._say(f"log {spec.name}: not checked this run: {exc.message}")
            finally:
                self._save()

    def run_forever(self, interval: float) -> None:
        while not self.stop.is_set():
            self.run_once()
            self.stop.wait(interval)

    def alerted(self, types: Sequence[str]) -> bool:
        return any(self.found.get(t) for t in types)

    # --- one log ----------------------------------------------------------------------------------

    def _check(self, spec: LogSpec, key: LogKey, reader: LogReader, state: LogState) -> None:
        others = self._others(spec, key, reader, state)
        evidence = reader.latest()
        fresh = self._accept(spec, key, reader, state, evidence)
        if state.head is not None:
            for source, other in others:
                self._compare(spec, reader, state, source, other, fresh)
        if fresh and self.config.watch and state.head is not None:
            self._scan(spec, reader, state, state.head)

    def _accept(
        self, spec: LogSpec, key: LogKey, reader: LogReader, state: LogState, evidence: str
    ) -> bool:
        """Verify the log's checkpoint and move the stored one to it if proven; False if not."""
        try:
            head = key.verify(evidence)
        except CheckpointError as exc:
            self._alert(state, Alert(exc.alert, spec.name, exc.message, spec.url,
                                     trusted=state.head, seen=peek(key.kind, evidence),
                                     seen_text=evidence))  # fmt: skip
            return False
        held = state.head
        if held is not None and held.origin != head.origin:  # pinned by the first checkpoint
            self._integrity(spec, state, "bad_checkpoint", f"the log's checkpoint is for origin "
                            f"{head.origin!r}, not {held.origin!r} as before", head)  # fmt: skip
            return False
        if held is not None:
            relation = relate(held, head)
            if relation == FORK:
                self._integrity(spec, state, "fork", f"the log shows a tree of {head.size} "
                                "entries with another root than the one it signed before", head)  # fmt: skip
                return False
            if relation == BEHIND:
                self._integrity(spec, state, "rollback", f"the log shows {head.size} entries, "
                                f"fewer than the {held.size} it signed before", head)  # fmt: skip
                return False
            if relation == EXTENDS and held.size > 0:
                reason = self._prove(reader, held, head)
                if reason is not None:
                    self._integrity(spec, state, "unprovable", f"the log does not prove that its "
                                    f"tree of {head.size} extends the one of {held.size}: {reason}",
                                    head)  # fmt: skip
                    return False
        state.head = head
        state.remember(head)
        return True

    def _prove(self, reader: LogReader, old: Head, new: Head) -> str | None:
        """None if ``new`` provably extends ``old``, else why not (network errors raise)."""
        try:
            proof = reader.proof(old.size, new.size, new)
            merkle.verify_consistency(old.size, new.size, proof, old.root, new.root)
        except UnavailableError:
            raise
        except Error as exc:
            return exc.message
        return None

    def _compare(
        self, spec: LogSpec, reader: LogReader, state: LogState, source: str, other: Head,
        fresh: bool,
    ) -> None:  # fmt: skip
        held = state.head
        assert held is not None
        if state.known(other):
            return
        relation = relate(held, other)
        if relation == SAME:
            state.remember(other)
        elif relation == FORK:
            self._integrity(spec, state, "fork", f"{source} holds a checkpoint of {other.size} "
                            "entries signed by the log with another root", other, source)  # fmt: skip
        elif relation == EXTENDS:
            if fresh:  # only a checkpoint fetched this run says what the log shows now
                self._integrity(spec, state, "rollback", f"{source} holds a checkpoint of "
                                f"{other.size} entries signed by the log, which now shows "
                                f"{held.size}", other, source)  # fmt: skip
        elif relation == BEHIND and other.size > 0:
            reason = self._prove(reader, other, held)
            if reason is None:
                state.remember(other)
            else:
                self._integrity(spec, state, "unprovable", f"the log does not prove that its "
                                f"tree extends the checkpoint of {other.size} entries that "
                                f"{source} holds: {reason}", other, source)  # fmt: skip

    def _others(
        self, spec: LogSpec, key: LogKey, reader: LogReader, state: LogState
    ) -> list[tuple[str, Head]]:
        """Checkpoints of this log that others saw, verified with its key."""
        found: list[tuple[str, str]] = []
        for path in self.compare:
            for file in _files(Path(path)):
                try:
                    texts = parse_evidence(file.read_bytes(), str(file))
                except (OSError, ValidationError) as exc:
                    why = exc.message if isinstance(exc, ValidationError) else exc.strerror
                    self._say(f"skipping {file}: {why}")
                    continue
                found += [(f"compare:{file}", t) for t in texts]
        origin = state.head.origin if state.head is not None else key.origin
        for witness in spec.witnesses:
            if origin:
                try:
                    text = reader.witness(witness, origin)
                except Error as exc:
                    self._say(f"log {spec.name}: witness {witness}: {exc.message}")
                    continue
                if text is not None:
                    found.append((f"witness:{witness}", text))
        heads: list[tuple[str, Head]] = []
        for source, text in found:
            try:
                heads.append((source, key.verify(text)))
            except CheckpointError as exc:
                if claims(key, text) and key.kind != "ct":
                    self._say(
                        f"log {spec.name}: ignoring a checkpoint from {source}: {exc.message}"
                    )
        return heads

    # --- entries ----------------------------------------------------------------------------------

    def _scan(self, spec: LogSpec, reader: LogReader, state: LogState, head: Head) -> None:
        if state.scan is None:
            state.scan = self._start(spec, reader, head)
            state.verified = state.scan.copy()
        frontier = state.scan
        if frontier.size >= head.size:
            return
        if state.verified is None:
            state.verified = frontier.copy()
        watch = self.config.watch
        subjects = reader.subjects
        last_save = time.monotonic()
        for chunk in reader.chunks(frontier.size, head.size, head):
            for leaf in chunk:
                index = frontier.size
                leaf_hash = merkle.leaf_hash(leaf)
                frontier.append(leaf_hash)
                found = subjects(leaf)
                if not found.readable:
                    state.count("entries_unreadable")
                matches, facts = watch.match(found)
                if matches:
                    shown = index + reader.index_offset
                    self._alert(state, Alert(
                        MATCH, spec.name, f"entry {shown} matches the watch list", spec.url,
                        index=shown, uuid=leaf_hash.hex(), kind=found.kind, matches=tuple(matches),
                        certificates=tuple(f.to_json() for f in facts),
                    ))  # fmt: skip
            state.count("entries_scanned", len(chunk))
            if self.stop.is_set():
                return
            if time.monotonic() - last_save > SAVE_EVERY:
                self._save()
                last_save = time.monotonic()
        if frontier.root() != head.root:
            self._integrity(spec, state, "entries_mismatch", f"the log's entries 0-{head.size - 1} "
                            "do not hash to the root of its signed checkpoint", head)  # fmt: skip
            state.scan = state.verified.copy()
        else:
            state.verified = frontier.copy()

    def _start(self, spec: LogSpec, reader: LogReader, head: Head) -> Frontier:
        start = head.size if spec.start == "latest" else min(int(spec.start), head.size)
        if start == 0:
            return Frontier()
        frontier = reader.frontier(start, head)
        if frontier.size == head.size and frontier.root() != head.root:
            raise ValidationError("the log's tiles do not hash to its signed root")
        return frontier

    # --- output -----------------------------------------------------------------------------------

    def _integrity(
        self, spec: LogSpec, state: LogState, kind: str, message: str, seen: Head,
        source: str = "log",
    ) -> None:  # fmt: skip
        assert kind in INTEGRITY
        self._alert(state, Alert(kind, spec.name, message, spec.url, trusted=state.head,
                                 seen=seen, source=source))  # fmt: skip

    def _alert(self, state: LogState, alert: Alert) -> None:
        self.sink.emit(alert)
        state.count(f"alerts_{alert.type}")
        self.found[alert.type] = self.found.get(alert.type, 0) + 1

    def _say(self, message: str) -> None:
        print(f"monitor: {message}", file=self.err, flush=True)

    def _save(self) -> None:
        sent, failed = self._webhook_base
        self.state.counters["webhook_sent"] = sent + self.sink.sent
        self.state.counters["webhook_failures"] = failed + self.sink.failed
        self.state.save()
        self.snapshot = metrics.families(self.state, [s.name for s, _, _ in self.logs],
                                         bool(self.config.watch))  # fmt: skip
        if self.metrics_file:
            metrics.write_file(self.metrics_file, metrics.render(self.snapshot))


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    return [path]

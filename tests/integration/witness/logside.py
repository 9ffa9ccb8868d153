"""Shared by the tests of logs that call their witnesses: a Rekor v2 log key made here (so that
its vkey is known before anything starts), real ``sigstack serve witness`` processes following
the log through a ``logs/v0`` list, the log's tlog-policy file naming them with their URLs, and
``sigstack serve rekor2`` started with that policy."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sigstack.protocol import note, vkeys
from tests.support.entries import v2_hashedrekord
from tests.support.servers import Service, free_port, sigstack_cli


def http(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"} if data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers,
                                 method="POST" if data is not None else "GET")  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=90) as resp:  # noqa: S310 (loopback)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def entry_request(artifact: bytes) -> bytes:
    """A hashedrekord request body for ``artifact`` (signed with a new key)."""
    return json.dumps(v2_hashedrekord(artifact).request).encode()


def add(log_url: str, artifact: bytes | None = None, body: bytes | None = None) -> tuple[int, Any]:
    """POST one hashedrekord entry (``body`` as given, else made for ``artifact``); (status,
    JSON answer or raw body)."""
    body = body if body is not None else entry_request(artifact or b"")
    status, raw = http(f"{log_url}/api/v2/log/entries", body)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def checkpoint(log_url: str) -> tuple[str, note.Checkpoint]:
    status, raw = http(f"{log_url}/checkpoint")
    assert status == 200, raw
    text = raw.decode()
    return text, note.Checkpoint.from_text(note.SignedNote.from_text(text).text)


def envelope(entry: dict[str, Any]) -> str:
    """The checkpoint an added entry's inclusion proof carries."""
    return str(entry["inclusionProof"]["checkpoint"]["envelope"])


def signers(signed: str) -> list[str]:
    """The key names of a signed note's signature lines, in order."""
    return [s.name for s in note.SignedNote.from_text(signed).signatures]


def metric(service_url: str, name: str, **labels: str) -> float:
    """The value of one sample of ``/metrics`` (0 when absent)."""
    text = http(f"{service_url}/metrics")[1].decode()
    for line in text.splitlines():
        m = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            return float(m.group(2))
    return 0.0


@dataclass
class LogKey:
    """An Ed25519 Rekor v2 log key in a file, for the origin ``127.0.0.1:<port>``."""

    path: Path
    port: int
    public: ed25519.Ed25519PublicKey

    @property
    def origin(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def uri(self) -> str:
        return f"file:{self.path}"

    def vkey(self) -> str:
        return vkeys.format_vkey(note.verifier_for_key(self.origin, self.public))

    @classmethod
    def make(cls, path: Path) -> LogKey:
        key = ed25519.Ed25519PrivateKey.generate()
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
        path.chmod(0o600)
        return cls(path, free_port(), key.public_key())


@dataclass
class Witness:
    label: str
    service: Service
    vkey: str
    data: Path

    def policy_line(self) -> str:
        return f"witness {self.label} {self.vkey} {self.service.url}\n"


def start_witness(stack: ExitStack, tmp: Path, label: str, key: LogKey) -> Witness:
    """A real witness (name ``witness.test/<label>``) following the log of ``key``."""
    logs = tmp / f"{label}-logs.txt"
    logs.write_text(f"logs/v0\nvkey {key.vkey()}\n")
    data = tmp / label
    service = Service("witness", "--data-dir", str(data), "--name", f"witness.test/{label}",
                      "--logs", str(logs), log=tmp / f"{label}.log")  # fmt: skip
    stack.enter_context(service)
    done = sigstack_cli("witness", "vkey", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    return Witness(label, service, done.stdout.strip(), data)


def write_policy(path: Path, witnesses: list[Witness], quorum: str) -> Path:
    path.write_text("".join(w.policy_line() for w in witnesses) + quorum + "\n")
    return path


def log_service(tmp: Path, key: LogKey, name: str = "rekor2", *, port: int | None = None,
                **config: Any) -> Service:  # fmt: skip
    """``sigstack serve rekor2`` for ``key`` with the given configuration keys (not started)."""
    conf = tmp / f"{name}.json"
    conf.write_text(json.dumps(config))
    return Service("rekor2", "--data-dir", str(tmp / name), "--key", key.uri, "--origin",
                   key.origin, "--config", str(conf), port=port or key.port,
                   log=tmp / f"{name}.log")  # fmt: skip

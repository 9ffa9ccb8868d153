"""``client.monitor.config`` and ``client.monitor.state``: the configuration file's rules, finding a
log's trusted-root entry, and the state file (0600, atomic, locked, refused for another key)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.client.monitor.config import MonitorConfig, resolve_key
from sigstack.client.monitor.heads import Head
from sigstack.client.monitor.state import StateFile, locked
from sigstack.client.monitor.tree import Frontier
from sigstack.protocol import merkle
from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.protocol.trust import TRUSTED_ROOT_V01, TrustedRoot
from tests.integration.monitor.kit import log_instance
from tests.unit.monitor.certs import spki

LOG = {"name": "rekor", "type": "rekor", "url": "https://rekor.example"}


def _config(tmp: Path, **obj: Any) -> MonitorConfig:
    return MonitorConfig.from_json({"logs": [LOG], **obj}, tmp)


def test_a_full_configuration(tmp_path: Path) -> None:
    config = _config(
        tmp_path, trusted_root="root.json", state="s.json", interval=60, compare=["cps"],
        webhook={"url": "https://hook.example/x/", "headers": {"Authorization": "t"}, "timeout": 3},
        watch={"digests": ["ab" * 32]},
    )  # fmt: skip
    assert config.trusted_root == str(tmp_path / "root.json") and config.interval == 60.0
    assert config.compare == (str(tmp_path / "cps"),) and config.watch
    assert config.webhook is not None and config.webhook.url == "https://hook.example/x"
    assert config.webhook.headers == (("Authorization", "t"),) and config.webhook.timeout == 3
    tiles = MonitorConfig.from_json({"logs": [
        {"name": "v2", "type": "tiles", "url": "http://127.0.0.1:3003/", "start": "latest"},
        {"name": "ct", "type": "ct", "url": "https://ct.example", "batch": 64, "start": 10}]},
        tmp_path).logs  # fmt: skip
    assert tiles[0].origin == "127.0.0.1:3003" and tiles[0].entries == "tiles"  # rekor-monitor's
    assert (tiles[1].batch, tiles[1].start, tiles[1].entries) == (64, 10, "ct")
    assert (config.logs[0].head, config.logs[0].entries) == ("api", "api")
    mirrored = MonitorConfig.from_json({"logs": [{**LOG, "head": "checkpoint"}]}, tmp_path).logs
    assert (mirrored[0].head, mirrored[0].entries) == ("checkpoint", "tiles")  # no v1 API


@pytest.mark.parametrize("obj", [
    [], {}, {"logs": []}, {"logs": [LOG], "extra": 1}, {"logs": [LOG, LOG]},
    {"logs": [{**LOG, "name": "a b"}]}, {"logs": [{**LOG, "type": "trillian"}]},
    {"logs": [{**LOG, "url": "ftp://x"}]}, {"logs": [{**LOG, "entries": "ct"}]},
    {"logs": [{**LOG, "start": -1}]}, {"logs": [{**LOG, "start": "first"}]},
    {"logs": [{**LOG, "batch": 0}]}, {"logs": [{**LOG, "batch": True}]},
    {"logs": [{**LOG, "log_id": "zz"}]}, {"logs": [{**LOG, "origin": "a\nb"}]},
    {"logs": [{**LOG, "witnesses": "x"}]},
    {"logs": [{"name": "c", "type": "ct", "url": "https://c", "witnesses": ["https://w"]}]},
    {"logs": [{**LOG, "colour": "red"}]}, {"logs": [LOG], "interval": 0},
    {"logs": [{**LOG, "head": "checkpoint", "entries": "api"}]}, {"logs": [{**LOG, "head": "x"}]},
    {"logs": [{"name": "t", "type": "tiles", "url": "https://t", "head": "api"}]},
    {"logs": [{"name": "c", "type": "ct", "url": "https://c", "head": "checkpoint"}]},
    {"logs": [LOG], "webhook": 5}, {"logs": [LOG], "webhook": {"url": "x"}},
    {"logs": [LOG], "webhook": {"url": "https://h", "headers": {"a": 1}}},
    {"logs": [LOG], "compare": "dir"}, {"logs": [LOG], "watch": {"identities": [{}]}},
])  # fmt: skip
def test_bad_configurations_are_refused(tmp_path: Path, obj: Any) -> None:
    with pytest.raises(ValidationError):
        MonitorConfig.from_json(obj, tmp_path)


def test_configuration_file_errors_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        MonitorConfig.from_file(tmp_path / "missing.json")
    (tmp_path / "c.json").write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        MonitorConfig.from_file(tmp_path / "c.json")
    (tmp_path / "c.json").write_text(json.dumps({"logs": []}))
    with pytest.raises(ConfigError, match="c.json: logs"):
        MonitorConfig.from_file(tmp_path / "c.json")


def _instance(url: str) -> Any:
    der = spki(ec.generate_private_key(ec.SECP256R1()))
    return log_instance(url, der, "PKIX_ECDSA_P256_SHA_256", hashlib.sha256(der).digest())


def test_resolve_key_by_base_url_or_log_id(tmp_path: Path) -> None:
    a, b = _instance("https://rekor.example/"), _instance("https://other.example")
    root = TrustedRoot(TRUSTED_ROOT_V01, (a, b), (), ())
    config = _config(tmp_path)
    assert resolve_key(config.logs[0], root).log_id == a.log_id
    by_id = MonitorConfig.from_json({"logs": [{**LOG, "log_id": b.log_id.hex()}]}, tmp_path)
    assert resolve_key(by_id.logs[0], root).log_id == b.log_id
    with pytest.raises(ConfigError, match="no transparency log"):
        resolve_key(config.logs[0], TrustedRoot(TRUSTED_ROOT_V01, (b,), (), ()))
    with pytest.raises(ConfigError, match="several"):
        resolve_key(
            config.logs[0], TrustedRoot(TRUSTED_ROOT_V01, (a, _instance(a.base_url)), (), ())
        )
    ct = MonitorConfig.from_json({"logs": [{**LOG, "type": "ct"}]}, tmp_path)
    with pytest.raises(ConfigError, match="no CT log"):
        resolve_key(ct.logs[0], root)  # CT logs come from ctlogs only


def test_state_round_trip_mode_and_atomic_replace(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    state = StateFile(path).load()
    log = state.log("rekor", b"\x01" * 32, "https://rekor.example")
    log.head = Head(3, b"\x02" * 32, "note\n", "origin")
    frontier = Frontier()
    frontier.extend(merkle.leaf_hash(b"%d" % i) for i in range(3))
    log.scan, log.verified = frontier, frontier.copy()
    log.count("entries_scanned", 3)
    log.remember(log.head)
    state.counters["webhook_failures"] = 1
    state.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temporary left
    again = StateFile(path).load()
    got = again.log("rekor", b"\x01" * 32, "https://rekor.example")
    assert got.head == log.head and got.scan is not None and got.scan.hashes == frontier.hashes
    assert got.counters == {"entries_scanned": 3} and again.counters == {"webhook_failures": 1}
    assert got.known(log.head) and not got.known(Head(3, bytes(32), ""))
    with pytest.raises(ConfigError, match="a new key is a new log"):
        again.log("rekor", b"\x03" * 32, "https://rekor.example")


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"version": 2}', b'{"version": 1, "logs": []}',
                                     b'{"version": 1, "logs": {"a": {"log_id": 1}}}',
                                     b'{"version": 1, "logs": {"a": {"log_id": "x", "head": 1}}}',
                                     b'{"version": 1, "logs": {"a": {"log_id": "x", "scan": {}}}}'])  # fmt: skip
def test_unreadable_state_is_refused_not_reset(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="move it away"):
        StateFile(path).load()


def test_state_write_failure_is_a_config_error(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "missing-dir" / "state.json")
    with pytest.raises(ConfigError, match="cannot write"):
        state.save()


def test_one_monitor_per_state_file(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    other = [sys.executable, "-c", "import sys\nfrom sigstack.client.monitor.state import locked\n"
             "from sigstack.protocol.errors import ConfigError\ntry:\n"
             f" with locked({str(path)!r}): pass\nexcept ConfigError as e:\n print(e.message)"]  # fmt: skip
    with locked(path):
        assert stat.S_IMODE(os.stat(f"{path}.lock").st_mode) == 0o600
        held = subprocess.run(other, capture_output=True, text=True, timeout=60)
        assert "another monitor is using the state file" in held.stdout
    free = subprocess.run(other, capture_output=True, text=True, timeout=60)
    assert free.stdout == "" and free.returncode == 0

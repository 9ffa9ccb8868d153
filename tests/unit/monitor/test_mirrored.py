"""The monitor following logs through a mirror, in one process: static tlog-tiles logs (a Rekor v1
one, ECDSA notes named after the host, and a C2SP one) copied by ``client.mirror``, served by
``sigstack serve mirror``'s app over real HTTP, the configuration ``mirror status
--monitor-config`` writes, and ``client.monitor.Monitor`` reading it.

The Rekor v1 log has no v1 API there: its ``rekor`` entry reads the head from ``/checkpoint``
(``"head": "checkpoint"``), proves consistency from tiles and reads entry bundles. The watched
entries are found exactly, growth is proven, and a mirror that serves an altered checkpoint, one
signed by another key or a fork of the same size signed by the log's key is an alert."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.client.mirror.layout import MirrorDir, name_for
from sigstack.client.mirror.mirror import LogPlan, Plan, apply
from sigstack.client.mirror.sources import DirSource
from sigstack.client.mirror.status import describe, monitor_config
from sigstack.client.monitor.alerts import Sink
from sigstack.client.monitor.config import MonitorConfig
from sigstack.client.monitor.monitor import Monitor
from sigstack.client.monitor.state import StateFile
from sigstack.protocol import merkle, note
from sigstack.protocol.canonical import canonicalize
from sigstack.protocol.trust import TrustedRoot
from sigstack.services.mirror.app import create_app
from sigstack.services.mirror.config import MirrorConfig
from tests.support.entries import hashedrekord
from tests.support.servers import Served, serve_wsgi
from tests.unit.mirror.kit import StaticLog, trusted_root

V1_ORIGIN = "rekor.example - 4242"
V1_NAME = name_for(V1_ORIGIN)  # rekor.example-4242
V2_ORIGIN = "log2026.example"


def _body(artifact: bytes) -> bytes:
    return canonicalize(hashedrekord(artifact))


def _digest(artifact: bytes) -> str:
    return "sha256:" + hashlib.sha256(artifact).hexdigest()


class Site:
    """Two logs, a mirror of them served over HTTP, and a monitor state."""

    def __init__(self, tmp: Path, served: Served, v1: StaticLog, v2: StaticLog,
                 mirror: MirrorDir) -> None:  # fmt: skip
        self.tmp, self.served, self.v1, self.v2, self.mirror = tmp, served, v1, v2, mirror
        self.root = TrustedRoot.from_json(trusted_root([v1, v2]))

    def update(self) -> None:
        apply(self.mirror, Plan(logs=(LogPlan(V1_NAME, DirSource(self.v1.root)),)))

    def config(self, watched: list[bytes]) -> MonitorConfig:
        doc = monitor_config(describe(self.mirror.root), self.served.url)
        doc["watch"] = {"digests": [_digest(a) for a in watched]}
        return MonitorConfig.from_json(doc, self.tmp)

    def run(self, config: MonitorConfig) -> tuple[list[dict[str, Any]], str]:
        out, err = io.StringIO(), io.StringIO()
        state = StateFile(self.tmp / "state.json").load()
        monitor = Monitor(config, self.root, state, Sink(out, err=err), err=err, timeout=10)
        monitor.run_once()
        return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()

    @property
    def checkpoint(self) -> Path:
        live = self.mirror.current()
        assert live is not None
        return live / "log" / V1_NAME / "checkpoint"

    def serve_checkpoint(self, text: str) -> None:
        """What a tampered mirror serves (a new file: the old one is shared with the previous
        generation through a hard link)."""
        self.checkpoint.unlink()
        self.checkpoint.write_text(text)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    v1 = StaticLog(tmp_path / "v1", V1_ORIGIN, v1=True)
    v1.entries = [_body(b"artifact %d" % i) for i in range(300)]
    v1.publish()
    v2 = StaticLog(tmp_path / "v2", V2_ORIGIN).add(10)
    mirror = MirrorDir(tmp_path / "mirror")
    apply(mirror, Plan(logs=(LogPlan(None, DirSource(v1.root)), LogPlan(None, DirSource(v2.root))),
                       trusted_root=trusted_root([v1, v2])))  # fmt: skip
    with serve_wsgi(create_app(MirrorConfig(dir=str(mirror.root)))) as served:
        yield Site(tmp_path, served, v1, v2, mirror)


def _matches(alerts: list[dict[str, Any]]) -> set[tuple[str, int, str]]:
    assert {a["type"] for a in alerts} <= {"match"}, alerts
    return {(a["log"], a["index"], a["uuid"]) for a in alerts}


def _expected(site: Site, *indexes: int) -> set[tuple[str, int, str]]:
    return {(V1_NAME, i, merkle.leaf_hash(site.v1.entries[i]).hex()) for i in indexes}


def test_the_config_follows_a_mirrored_rekor_v1_log_through_its_tiles(site: Site) -> None:
    doc = monitor_config(describe(site.mirror.root), site.served.url)
    by_name = {log["name"]: log for log in doc["logs"]}
    assert by_name[V1_NAME] == {
        "name": V1_NAME, "type": "rekor", "url": f"{site.served.url}/log/{V1_NAME}",
        "log_id": site.v1.log_id.hex(), "origin": V1_ORIGIN, "head": "checkpoint",
        "entries": "tiles"}  # fmt: skip
    assert by_name[V2_ORIGIN]["type"] == "tiles" and "head" not in by_name[V2_ORIGIN]
    watched = [b"artifact 7", b"artifact 256", b"not logged"]
    config = site.config(watched)
    alerts, err = site.run(config)
    assert _matches(alerts) == _expected(site, 7, 256), err
    assert "not checked" not in err, err
    again, err = site.run(config)  # nothing new: nothing read again
    assert again == [] and "not checked" not in err, err
    # the log grows past a tile boundary; the mirror's new checkpoint is proven from its tiles
    site.v1.entries += [_body(b"artifact %d" % i) for i in range(300, 560)]
    site.v1.publish()
    site.update()
    grown, err = site.run(site.config([*watched, b"artifact 520", b"artifact 299"]))
    assert _matches(grown) == _expected(site, 520), err  # 299 was read before: not again
    state = json.loads((site.tmp / "state.json").read_text())
    assert state["logs"][V1_NAME]["head"]["size"] == 560


def test_a_mirror_serving_another_checkpoint_is_an_alert(site: Site) -> None:
    config = site.config([b"artifact 1"])
    first, err = site.run(config)
    assert _matches(first) == _expected(site, 1), err
    good = site.checkpoint.read_text()
    size, root = len(site.v1.entries), merkle.root_of([merkle.leaf_hash(e)
                                                      for e in site.v1.entries])  # fmt: skip
    altered = good.replace(f"\n{size}\n", f"\n{size + 1}\n", 1)
    assert altered != good
    other = ec.generate_private_key(ec.SECP256R1())  # the host's name and the log's key ID
    forged = note.sign_checkpoint(note.Checkpoint(V1_ORIGIN, size + 1, root), "rekor.example",
                                  note.ecdsa_key_id(site.v1.spki),
                                  lambda m: other.sign(m, ec.ECDSA(hashes.SHA256())))  # fmt: skip
    fork = site.v1.sign(size, hashlib.sha256(b"another tree").digest())  # the log's own key
    for text, kind in ((altered, "bad_signature"), (forged, "bad_signature"), (fork, "fork"),
                       (site.v1.sign(size - 1, root), "rollback")):  # fmt: skip
        site.serve_checkpoint(text)
        alerts, err = site.run(config)
        assert [a["type"] for a in alerts] == [kind], (alerts, err)
        assert alerts[0]["log"] == V1_NAME and alerts[0]["trusted"]["size"] == size
    site.serve_checkpoint(good)  # put right: the stored checkpoint never moved
    back, err = site.run(config)
    assert back == [] and "not checked" not in err, err

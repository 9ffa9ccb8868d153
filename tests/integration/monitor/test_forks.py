"""A log that misbehaves, as ``sigstack monitor`` sees it: a Rekor v1, Rekor v2 or CT log restored
from an earlier copy and served under the same key and origin (a rollback, then a fork once it
grows again), a log under another key (a bad signature), checkpoints of the forked copy shown by
others (files and a witness's monitoring endpoint), and a static tiles mirror whose entries were
changed after the fact.

The servers are real ``sigstack serve`` processes; the copy is what docs/backup.md takes (the key
and an online SQLite backup), restored onto the same port."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.monitor.kit import (
    Ca,
    add_ct,
    add_v1,
    add_v2,
    copy_log,
    ct_instance,
    email,
    get_json,
    get_text,
    monitor,
    new_key,
    v1_hashedrekord,
    v1_instance,
    v2_hashedrekord,
    v2_instance,
    write_config,
    write_trusted_root,
)
from tests.support.servers import Service, free_port, serve_directory, sigstack_cli

pytestmark = pytest.mark.xdist_group("servers")

ORIGIN = "rekor2.test"


class Log:
    """One kind of log: how to serve a data directory, write to it and read its checkpoint."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind, self.tmp, self.port = kind, tmp, free_port()
        self.ca = Ca(tmp) if kind == "ct" else None
        self.name = {"rekor": "rekor", "tiles": "rekor2", "ct": "ctlog"}[kind]
        self.count = 0

    def serve(self, data: Path) -> Service:
        extra = {"rekor": ["--hostname", "rekor.test"], "tiles": ["--origin", ORIGIN],
                 "ct": ["--roots", str(self.ca.root_pem) if self.ca else ""]}[self.kind]  # fmt: skip
        return Service(self.name, "--data-dir", str(data), *extra, port=self.port,
                       log=self.tmp / f"{data.name}.log").start()  # fmt: skip

    def add(self, srv: Service) -> None:
        self.count += 1
        key, artifact = new_key(), b"entry %d" % self.count
        if self.kind == "rekor":
            add_v1(srv, v1_hashedrekord(artifact, key, None))
        elif self.kind == "tiles":
            add_v2(srv, v2_hashedrekord(artifact, key, None))
        else:
            assert self.ca is not None
            add_ct(srv, self.ca, self.ca.leaf(email(f"{self.count}@example.com"), key,
                                              precert=True), True)  # fmt: skip

    def checkpoint(self, srv: Service) -> str:
        if self.kind == "rekor":
            return str(get_json(f"{srv.url}/api/v1/log")["signedTreeHead"])
        if self.kind == "tiles":
            return get_text(f"{srv.url}/checkpoint")
        return json.dumps(get_json(f"{srv.url}/ct/v1/get-sth"))

    def instance(self, srv: Service, data: Path) -> Any:
        if self.kind == "rekor":
            return v1_instance(srv, data)
        if self.kind == "tiles":
            return v2_instance(srv, data, ORIGIN)
        return ct_instance(srv, data)


def _only(run: Any, kind: str) -> dict[str, Any]:
    assert run.status == 4, (run.alerts, run.stderr)
    assert [a["type"] for a in run.alerts] == [kind], run.alerts
    return dict(run.alerts[0])


def _size_root(checkpoint: dict[str, Any]) -> tuple[int, str]:
    return checkpoint["size"], checkpoint["root"]


@pytest.mark.parametrize("kind", ["rekor", "tiles", "ct"])
def test_restored_copy_is_a_rollback_then_a_fork_and_another_key_a_bad_signature(
    tmp_path: Path, kind: str
) -> None:
    log = Log(kind, tmp_path)
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a = log.serve(a_dir)
    try:
        for _ in range(3):
            log.add(a)
        copy_log(a_dir, b_dir, log.name)  # the backup, three entries in
        log.add(a)
        log.add(a)
        shown_a = log.checkpoint(a)
        instance = log.instance(a, a_dir)
    finally:
        a.kill()
    root = write_trusted_root(tmp_path / "root.json", [] if kind == "ct" else [instance],
                              [instance] if kind == "ct" else [])  # fmt: skip
    spec: dict[str, Any] = {"name": "log", "type": kind, "url": a.url}
    if kind == "tiles":
        spec["origin"] = ORIGIN
    config = write_config(tmp_path / "monitor.json", trusted_root=root.name, state="state.json",
                          logs=[spec], watch={"identities": [{"identity": "nobody@example.com"}]})  # fmt: skip
    a = log.serve(a_dir)
    first = monitor(config)
    assert (first.status, first.alerts) == (0, []), first.stderr
    a.kill()

    b = log.serve(b_dir)  # restored from the backup, on the log's address, under its key
    try:
        rollback = _only(monitor(config), "rollback")
        assert rollback["source"] == "log" and rollback["seen"]["size"] == 3
        assert rollback["trusted"]["size"] == 5 and rollback["trusted"]["checkpoint"] == (
            shown_a if kind != "ct" else rollback["trusted"]["checkpoint"])  # fmt: skip
        log.add(b)
        shown_b4 = log.checkpoint(b)
        assert _only(monitor(config), "rollback")["seen"]["size"] == 4  # still, every run
        log.add(b)
        shown_b5 = log.checkpoint(b)
        fork = _only(monitor(config), "fork")
        assert fork["seen"]["size"] == fork["trusted"]["size"] == 5
        assert fork["seen"]["root"] != fork["trusted"]["root"]
        assert fork["seen"]["checkpoint"].replace(" ", "") == shown_b5.replace(" ", "")
    finally:
        b.kill()

    a = log.serve(a_dir)  # the real log again: the stored checkpoint never moved
    try:
        back = monitor(config)
        assert (back.status, back.alerts) == (0, []), back.stderr
        others = tmp_path / "others"
        others.mkdir()
        (others / "b4").write_text(shown_b4)
        (others / "b5").write_text(shown_b5)
        (others / "a").write_text(shown_a)
        (others / "unrelated.txt").write_text("not a checkpoint\n")
        shown = monitor(config, "--compare-checkpoint", str(others))
        assert shown.status == 4, shown.stderr
        by_type = {a["type"]: a for a in shown.alerts}
        assert sorted(by_type) == ["fork", "unprovable"], shown.alerts
        assert by_type["fork"]["source"] == f"compare:{others / 'b5'}"
        assert _size_root(by_type["fork"]["seen"]) != _size_root(by_type["fork"]["trusted"])
        assert by_type["unprovable"]["source"] == f"compare:{others / 'b4'}"
        assert by_type["unprovable"]["seen"]["size"] == 4
        if kind != "ct":  # a C2SP witness's monitoring endpoint holding the forked checkpoint
            origin = shown_a.split("\n", 1)[0]
            where = tmp_path / "witness" / hashlib.sha256(origin.encode()).hexdigest()
            where.mkdir(parents=True)
            (where / "checkpoint").write_text(shown_b5)
            with serve_directory(tmp_path / "witness") as witness:
                spec["witnesses"] = [witness.url]
                write_config(config, trusted_root=root.name, state="state.json", logs=[spec])
                seen = _only(monitor(config), "fork")
                assert seen["source"] == f"witness:{witness.url}"
    finally:
        a.kill()

    c = log.serve(tmp_path / "c")  # a new log, new key, same name and address
    try:
        bad = _only(monitor(config), "bad_signature")
        assert bad["seen"]["size"] == 0 and bad["trusted"]["size"] == 5
    finally:
        c.kill()
    if kind == "rekor":  # a second tree under the log's key: another tree ID, another origin
        key = f"file:{a_dir / 'rekor-key.pem'}"
        d = Service("rekor", "--data-dir", str(tmp_path / "d"), "--key", key, "--hostname",
                    "rekor.test", port=log.port, log=tmp_path / "d.log").start()  # fmt: skip
        try:
            other = _only(monitor(config), "bad_checkpoint")
            assert "not 'rekor.test - " in other["message"] and other["seen"]["size"] == 0
        finally:
            d.kill()


def test_a_static_mirror_whose_entries_were_changed(tmp_path: Path) -> None:
    """Rekor v2's tiles exported to files and served by a plain web server (a Tessera-style
    static log); an entry bundle changed after the fact no longer hashes to the signed root."""
    data = tmp_path / "rekor2"
    with Service("rekor2", "--data-dir", str(data), "--origin", ORIGIN,
                 log=tmp_path / "rekor2.log") as srv:  # fmt: skip
        for i in range(5):
            add_v2(srv, v2_hashedrekord(b"%d" % i, new_key(), None))
        instance = v2_instance(srv, data, ORIGIN)
    out = tmp_path / "static"
    done = sigstack_cli(
        "serve", "rekor2", "export-tiles", "--data-dir", str(data), "--to", str(out)
    )
    assert done.returncode == 0, done.stderr
    root = write_trusted_root(tmp_path / "root.json", [instance], [])
    with serve_directory(out) as mirror:
        spec = {"name": "mirror", "type": "tiles", "url": mirror.url, "origin": ORIGIN,
                "log_id": instance.log_id.hex()}  # fmt: skip
        watch = {"digests": ["sha256:" + "00" * 32]}
        config = write_config(tmp_path / "m.json", trusted_root=root.name, state="s.json",
                              logs=[spec], watch=watch)  # fmt: skip
        bundle = out / "tile" / "entries" / "000.p" / "5"
        original = bundle.read_bytes()
        changed = bytearray(original)
        changed[-10] ^= 1
        bundle.write_bytes(bytes(changed))
        mismatch = _only(monitor(config), "entries_mismatch")
        assert mismatch["seen"]["size"] == 5
        bundle.write_bytes(original)  # put right: the scan starts over from the verified point
        fixed = monitor(config)
        assert (fixed.status, fixed.alerts) == (0, []), fixed.stderr

"""``sigstack monitor`` following a mirrored Rekor v1 log: a real ``sigstack serve rekor`` with
watched and other entries, copied by ``sigstack mirror pull``, served by ``sigstack serve mirror``
(which has no v1 API), and the monitor run with the configuration ``sigstack mirror status
--monitor-config`` prints (``"type": "rekor", "head": "checkpoint", "entries": "tiles"``).

It finds exactly the watched entries, then only the new ones after ``mirror update``. A mirror
whose checkpoint was altered, replaced by one signed by another key (another Rekor v1 log under
the same host name) or by a checkpoint of a restored copy of the log that grew other entries (the
log's key, same size, another root) is an alert, and the stored checkpoint never moves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.monitor.kit import (
    ISSUER,
    Ca,
    Written,
    add_v1,
    copy_log,
    email,
    fingerprint,
    found,
    get_text,
    monitor,
    new_key,
    v1_hashedrekord,
    v1_instance,
    write_config,
    write_trusted_root,
)
from tests.support.servers import Service, sigstack_out

pytestmark = pytest.mark.xdist_group("servers")

ALICE = "alice@example.com"


def _serve(checkpoint: Path, text: str) -> None:
    """What a tampered mirror serves (a new file: the generations share the old one)."""
    checkpoint.unlink()
    checkpoint.write_text(text)


def _only(run: Any, kind: str) -> dict[str, Any]:
    assert run.status == 4, (run.alerts, run.stderr)
    assert [a["type"] for a in run.alerts] == [kind], run.alerts
    return dict(run.alerts[0])


def test_the_monitor_follows_a_mirrored_rekor_v1_log(tmp_path: Path) -> None:
    ca, watched_key = Ca(tmp_path), new_key()
    data, out = tmp_path / "rekor", tmp_path / "mirror"
    with Service("rekor", "--data-dir", str(data), "--hostname", "rekor.test",
                 log=tmp_path / "rekor.log") as v1:  # fmt: skip
        expected: set[tuple[int, str]] = set()

        def add(artifact: bytes, who: str | None, key: Any = None, watched: bool = False) -> None:
            key = key or new_key()
            cert = ca.leaf(email(who), key) if who else None
            w: Written = add_v1(v1, v1_hashedrekord(artifact, key, cert))
            if watched:
                expected.add((w.index, w.uuid))

        add(b"a1", ALICE, watched=True)
        add(b"b1", "bob@example.com")
        add(b"k1", None, watched_key, watched=True)
        add(b"n1", None)
        copy_log(data, tmp_path / "older", "rekor")  # a backup, four entries in
        add(b"b2", "bob@example.com")
        add(b"a2", ALICE, watched=True)
        root = write_trusted_root(tmp_path / "trusted_root.json", [v1_instance(v1, data)], [])
        sigstack_out("mirror", "pull", "--out", str(out), "--log", v1.url, "--trusted-root",
                     str(root))  # fmt: skip
        origin = get_text(f"{v1.url}/checkpoint").split("\n", 1)[0]
        with Service("mirror", "--dir", str(out), log=tmp_path / "mirror.log") as mirror:
            done = sigstack_out("mirror", "status", "--dir", str(out), "--monitor-config",
                                mirror.url)  # fmt: skip
            (spec,) = json.loads(done)["logs"]
            name = spec["name"]
            assert spec == {"name": name, "type": "rekor", "url": f"{mirror.url}/log/{name}",
                            "log_id": v1_instance(v1, data).log_id.hex(), "origin": origin,
                            "head": "checkpoint", "entries": "tiles"}  # fmt: skip
            watch = {"identities": [{"identity": ALICE, "issuer": ISSUER}],
                     "fingerprints": [fingerprint(watched_key)]}  # fmt: skip
            config = write_config(tmp_path / "monitor.json", trusted_root=root.name,
                                  state="state.json", logs=[spec], watch=watch)  # fmt: skip
            first = monitor(config)
            assert first.status == 3, (first.alerts, first.stderr)
            assert found(first) == {(name, i, u) for i, u in expected}
            assert {a["url"] for a in first.alerts} == {spec["url"]}

            # the log grows; the mirror's update is proven from its tiles, new entries only
            expected.clear()
            add(b"b3", "bob@example.com")
            add(b"a3", ALICE, watched=True)
            sigstack_out("mirror", "update", "--dir", str(out))
            second = monitor(config)
            assert second.status == 3, (second.alerts, second.stderr)
            assert found(second) == {(name, i, u) for i, u in expected}
            good = get_text(f"{mirror.url}/log/{name}/checkpoint")
            size = int(good.split("\n")[1])
            checkpoint = out / "current" / "log" / name / "checkpoint"

            # altered on the site: the log's signature no longer covers it
            _serve(checkpoint, good.replace(f"\n{size}\n", f"\n{size + 1}\n", 1))
            altered = _only(monitor(config), "bad_signature")
            assert altered["trusted"]["size"] == size and altered["seen"]["size"] == size + 1
            # another log's key (a new Rekor v1 under the same host name)
            with Service("rekor", "--data-dir", str(tmp_path / "other"), "--hostname",
                         "rekor.test", log=tmp_path / "other.log") as other:  # fmt: skip
                add_v1(other, v1_hashedrekord(b"o1", new_key(), None))
                _serve(checkpoint, get_text(f"{other.url}/checkpoint"))
            _only(monitor(config), "bad_signature")
            # the backup restored and grown with other entries: the log's key, another tree
            with Service("rekor", "--data-dir", str(tmp_path / "older"), "--hostname",
                         "rekor.test", log=tmp_path / "older.log") as older:  # fmt: skip
                for n in range(size - 4):
                    add_v1(older, v1_hashedrekord(b"forked %d" % n, new_key(), None))
                forked = get_text(f"{older.url}/checkpoint")
            assert forked.split("\n", 1)[0] == origin and forked != good
            _serve(checkpoint, forked)
            fork = _only(monitor(config), "fork")
            assert fork["seen"]["size"] == fork["trusted"]["size"] == size
            assert fork["seen"]["root"] != fork["trusted"]["root"]
            _serve(checkpoint, good)  # put right: nothing moved, nothing new
            back = monitor(config)
            assert (back.status, back.alerts) == (0, []), back.stderr

"""A split view caught through a real witness: a Rekor v2 log and a copy restored from its backup
(same key, same origin) each grow on their own; a ``sigstack serve witness`` that was fed the
copy's checkpoint (``sigstack witness feed``) holds a tree of the same size as the one the monitor
follows, with another root. The monitor asks the witness (tlog-witness "Monitor Retrieval") and
raises a fork; while the witness held a common prefix, the log proved it and nothing was raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.monitor.kit import (
    add_v2,
    copy_log,
    monitor,
    new_key,
    v2_hashedrekord,
    v2_instance,
    write_config,
    write_trusted_root,
)
from tests.support.servers import Service, sigstack_cli

pytestmark = pytest.mark.xdist_group("servers")


def _feed(log: Service, witness: Service) -> None:
    done = sigstack_cli("witness", "feed", "--log", log.url, "--witness", witness.url)
    assert done.returncode == 0, done.stderr


def test_a_witness_that_saw_another_tree_of_the_same_size(tmp_path: Path) -> None:
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    # the default origin, 127.0.0.1:PORT, is the URL without its scheme: what a witness following
    # a trusted root's Rekor v2 logs and the monitor both expect; the copy keeps it on its own port
    a = Service("rekor2", "--data-dir", str(a_dir), log=tmp_path / "a.log").start()
    origin = f"127.0.0.1:{a.port}"
    witness = b = None
    try:
        for i in range(3):
            add_v2(a, v2_hashedrekord(b"common %d" % i, new_key(), None))
        root = write_trusted_root(tmp_path / "root.json", [v2_instance(a, a_dir, origin)], [])
        witness = Service("witness", "--data-dir", str(tmp_path / "w"), "--name", "witness.test/w1",
                          "--trusted-root", str(root), log=tmp_path / "w.log").start()  # fmt: skip
        _feed(a, witness)  # the witness cosigns the common prefix
        copy_log(a_dir, b_dir, "rekor2")
        for i in range(2):
            add_v2(a, v2_hashedrekord(b"a %d" % i, new_key(), None))
        spec = {"name": "v2", "type": "tiles", "url": a.url, "witnesses": [witness.url]}
        config = write_config(tmp_path / "m.json", trusted_root=root.name, state="s.json",
                              logs=[spec])  # fmt: skip
        calm = monitor(config)
        assert (calm.status, calm.alerts) == (0, []), calm.stderr

        b = Service("rekor2", "--data-dir", str(b_dir), log=tmp_path / "b.log").start()
        for i in range(2):
            add_v2(b, v2_hashedrekord(b"b %d" % i, new_key(), None))
        _feed(b, witness)  # consistent with what the witness held: it cosigns the copy's tree
        forked = monitor(config)
        assert forked.status == 4, forked.stderr
        (alert,) = forked.alerts
        assert (alert["type"], alert["source"]) == ("fork", f"witness:{witness.url}")
        assert alert["seen"]["size"] == alert["trusted"]["size"] == 5
        assert "\u2014 witness.test/w1 " in alert["seen"]["checkpoint"]  # the cosigned note
    finally:
        for service in (a, b, witness):
            if service is not None:
                service.kill()

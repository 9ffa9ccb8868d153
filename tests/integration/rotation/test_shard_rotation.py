"""A Rekor shard rotation end to end, as docs/rotating-keys.md ("Rotating a log shard") runs it.

``sigstack up`` runs shard 1. sigstore-python 4.5.1 (trust from our TUF repository, ``sigstore
--instance``) and our client (``sigstack initialize``) sign against it. The operator starts shard 2
(``sigstack serve rekor`` on a new data directory: new key, tree and URL), publishes through TUF a
trusted root holding both logs and a signing config that moves Rekor to shard 2, and both clients
sign again, now on shard 2, with no restart of anything. Shard 1 is frozen (``sigstack rekor
freeze``): its writes are refused with a 405 naming shard 2, and its window in the trusted root ends
at the freeze time (``sigstack tuf trusted-root-end``). Every bundle verifies with sigstore-python
and with our client against the final trusted root, and the monitor follows both logs: the old
one's final checkpoint, the new one's entries.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.interop.conftest import SIGSTORE_PY, Stack, run, sigstack
from tests.support.entries import hashedrekord
from tests.support.servers import Service

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("stack")]


def _ok(done) -> str:
    assert done.returncode == 0, done.stderr + done.stdout
    return str(done.stdout)


def _log_id(bundle: Path) -> str:
    return str(
        json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]["logId"]["keyId"]
    )


def _post(url: str, body: dict) -> tuple[int, dict, dict]:
    req = urllib.request.Request(f"{url}/api/v1/log/entries", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (loopback)
            return (
                resp.status,
                json.loads(resp.read()),
                {k.lower(): v for k, v in resp.headers.items()},
            )
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), {k.lower(): v for k, v in exc.headers.items()}


class Clients:
    """sigstore-python and our client, each with its own TUF cache of the stack's repository."""

    def __init__(self, stack: Stack, tmp: Path) -> None:
        self.stack, self.tmp = stack, tmp
        self.env = {"XDG_DATA_HOME": str(tmp / "xdg-data"), "XDG_CACHE_HOME": str(tmp / "xdg-cache"),
                    "TUF_ROOT": str(tmp / "tuf-cache"), "SIGSTORE_ROOT_FILE": "",
                    "SIGSTORE_REKOR_PUBLIC_KEY": "", "SIGSTORE_CT_LOG_PUBLIC_KEY_FILE": ""}  # fmt: skip
        root = str(stack.data / "tuf" / "root.json")
        _ok(run([str(SIGSTORE_PY), "--instance", stack.urls["tuf"], "trust-instance", root],
                env=self.env))  # fmt: skip
        _ok(sigstack("initialize", "--mirror", stack.urls["tuf"], "--root", root, env=self.env))

    def sign(self, name: str) -> tuple[Path, Path, Path]:
        """One artifact signed by each client: (artifact, sigstore-python's, ours)."""
        artifact = self.tmp / f"{name}.txt"
        artifact.write_text(f"{name}\n")
        py, ours = self.tmp / f"{name}.py.sigstore.json", self.tmp / f"{name}.ours.sigstore.json"
        _ok(run([str(SIGSTORE_PY), "--instance", self.stack.urls["tuf"], "sign", "--identity-token",
                 self.stack.token(), "--bundle", str(py), str(artifact)], env=self.env))  # fmt: skip
        _ok(sigstack("sign-blob", str(artifact), "--bundle", str(ours), "--identity-token",
                     self.stack.token(), env=self.env))  # fmt: skip
        return artifact, py, ours

    def verify(self, artifact: Path, bundle: Path) -> None:
        identity, issuer = self.stack.identity, self.stack.urls["oidc"]
        _ok(run([str(SIGSTORE_PY), "--instance", self.stack.urls["tuf"], "verify", "identity",
                 "--bundle", str(bundle), "--cert-identity", identity, "--cert-oidc-issuer", issuer,
                 str(artifact)], env=self.env))  # fmt: skip
        _ok(sigstack("verify-blob", str(artifact), "--bundle", str(bundle), "--certificate-identity",
                     identity, "--certificate-oidc-issuer", issuer, env=self.env))  # fmt: skip


def _publish(data: Path, *files: tuple[str, Path]) -> None:
    """The runbook's last step: stage the targets, sign with the targets key (published)."""
    for name, path in files:
        _ok(sigstack("tuf", "add-target", "--data-dir", str(data / "tuf"), name, str(path)))
    _ok(sigstack("tuf", "sign", "--data-dir", str(data / "tuf"), "targets", "--key",
                 str(data / "tuf-keys" / "targets-1.pem")))  # fmt: skip


def _monitor(tmp: Path, stack: Stack, shard2: str, trusted_root: Path) -> tuple[int, list[dict]]:
    config = tmp / "monitor.json"
    config.write_text(json.dumps({
        "trusted_root": str(trusted_root), "state": str(tmp / "monitor-state.json"),
        "logs": [{"name": "rekor-1", "type": "rekor", "url": stack.urls["rekor"]},
                 {"name": "rekor-2", "type": "rekor", "url": shard2}],
        "watch": {"identities": [{"identity": stack.identity, "issuer": stack.urls["oidc"]}]},
    }))  # fmt: skip
    done = sigstack("monitor", "--config", str(config), "--once")
    assert done.returncode in (0, 3), done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines() if line]


def test_a_rekor_shard_rotation_published_through_tuf(tmp_path) -> None:
    data = tmp_path / "data"
    stack = Stack(data, tmp_path / "up.out").start()
    shard2: Service | None = None
    try:
        clients = Clients(stack, tmp_path)
        before = clients.sign("before")
        old_url = stack.urls["rekor"]
        old_ids = {_log_id(before[1]), _log_id(before[2])}
        assert len(old_ids) == 1

        # 1. shard 2: a new log (new key, tree, URL), started beside shard 1
        shard2 = Service("rekor", "--data-dir", str(tmp_path / "rekor-2"),
                         log=tmp_path / "rekor-2.log")  # fmt: skip
        shard2.args += ["--hostname", f"127.0.0.1:{shard2.port}"]
        shard2.start()
        # 2. the trusted root gains shard 2, the signing config moves Rekor to it
        root, signing = tmp_path / "trusted_root.json", tmp_path / "signing_config.v0.2.json"
        _ok(sigstack("tuf", "trusted-root-rotate", str(data / "trusted_root.json"), "--kind",
                     "tlogs", "--key", f"{shard2.url}/api/v1/log/publicKey", "--url", shard2.url,
                     "-o", str(root)))  # fmt: skip
        _ok(sigstack("tuf", "signing-config-rotate", str(data / "signing_config.json"),
                     "--service", "rekor", "--url", shard2.url, "--replaces", old_url,
                     "-o", str(signing)))  # fmt: skip
        _publish(data, ("trusted_root.json", root), ("signing_config.v0.2.json", signing))
        _code, alerts = _monitor(tmp_path, stack, shard2.url, root)
        assert not [a for a in alerts if a["type"] != "match"], alerts

        after = clients.sign("after")  # both clients refreshed TUF: they write to shard 2
        new_ids = {_log_id(after[1]), _log_id(after[2])}
        assert len(new_ids) == 1 and new_ids != old_ids

        # 3. freeze shard 1: read-only for good, writes refused naming shard 2
        frozen = _ok(sigstack("rekor", "freeze", "--data-dir", str(data / "rekor"),
                              "--successor", shard2.url))  # fmt: skip
        frozen_at = re.search(r"^frozen_at: (\S+)$", frozen, re.M)
        assert frozen_at and "Log frozen — " in frozen, frozen
        status, body, headers = _post(old_url, hashedrekord(b"too late for shard 1"))
        assert status == 405 and shard2.url in body["message"] and headers["allow"] == "GET, HEAD"
        assert _post(shard2.url, hashedrekord(b"shard 2 takes it"))[0] == 201

        # 4. shard 1's window ends at the freeze: the final trusted root, published
        _ok(sigstack("tuf", "trusted-root-end", str(root), "--kind", "tlogs", "--url", old_url,
                     "--at", frozen_at.group(1), "-o", str(root)))  # fmt: skip
        _publish(data, ("trusted_root.json", root))
        tlogs = {
            t["baseUrl"]: t["publicKey"]["validFor"] for t in json.loads(root.read_text())["tlogs"]
        }
        assert tlogs[old_url]["end"] == frozen_at.group(1) and "end" not in tlogs[shard2.url]

        # every bundle, of both shards, verifies with both clients against the final root
        for artifact, *bundles in (before, after):
            for bundle in bundles:
                clients.verify(artifact, bundle)

        # the monitor follows the hand-over: shard 1's final checkpoint, shard 2's entries
        code, alerts = _monitor(tmp_path, stack, shard2.url, root)
        assert code == 3 and not [a for a in alerts if a["type"] != "match"], alerts
        assert {a["log"] for a in alerts} == {"rekor-2"}
        state = json.loads((tmp_path / "monitor-state.json").read_text())["logs"]
        assert "Log frozen — " in state["rekor-1"]["head"]["checkpoint"]
        assert state["rekor-2"]["head"]["size"] == 3
    finally:
        if shard2 is not None:
            shard2.stop()
        assert stack.stop() == 0

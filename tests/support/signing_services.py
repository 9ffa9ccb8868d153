"""CT log, Rekor and Fulcio started as real gunicorn servers (``sigstack serve``) around a CA made
with ``sigstack ca create`` (encrypted key) and a throw-away OIDC issuer: what the Fulcio and the
client integration tests sign against."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sigstack.services.keys import load_signer
from tests.support.servers import Service
from tests.support.testdata import ROOT

PASS_ENV = "SIGSTACK_TEST_CA_PASS"


@contextmanager
def signing_services(tmp: Path, issuer: Any) -> Iterator[dict[str, Any]]:
    os.environ[PASS_ENV] = "correct horse"
    done = subprocess.run(
        [sys.executable, "-m", "sigstack.client.cli", "ca", "create", "--out-dir", str(tmp / "ca"),
         "--algorithm", "ecdsa-p384", "--passphrase-env", PASS_ENV],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"ca create failed: {done.stderr[-500:]}")
    ct = Service("ctlog", "--data-dir", str(tmp / "ct"), "--roots", str(tmp / "ca" / "root.pem"),
                 log=tmp / "ct.log").start()  # fmt: skip
    rekor = Service("rekor", "--data-dir", str(tmp / "rekor"), "--hostname", "rekor.test",
                    log=tmp / "rekor.log").start()  # fmt: skip
    (tmp / "fulcio.json").write_text(json.dumps({"OIDCIssuers": {issuer.url: {"Type": "email"}}}))
    fulcio = Service(
        "fulcio", "--data-dir", str(tmp / "fulcio"), "--config", str(tmp / "fulcio.json"),
        "--ct-url", ct.url, "--ct-public-key", str(tmp / "ct" / "ctlog.pub"),
        "--ca-key", f"file:{tmp / 'ca' / 'intermediate-key.pem'}?passphrase-env={PASS_ENV}",
        "--ca-chain", str(tmp / "ca" / "chain.pem"), log=tmp / "fulcio.log",
    ).start()  # fmt: skip
    try:
        yield {
            "tmp": tmp, "issuer": issuer, "ct": ct, "fulcio": fulcio, "rekor": rekor,
            "ct_der": load_signer(f"file:{tmp / 'ct' / 'ctlog-key.pem'}").public_der,
            "rekor_der": load_signer(f"file:{tmp / 'rekor' / 'rekor-key.pem'}").public_der,
        }  # fmt: skip
    finally:
        for service in (fulcio, rekor, ct):
            service.kill()

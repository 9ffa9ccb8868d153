"""Many simultaneous submissions, re-submissions and reads on ``sigstack serve ctlog`` (SQLite and
PostgreSQL), with exact outcomes: every chain logged once, a re-submission answered with the SCT
of the first, every answer a 200, and the tree that results consistent with every STH handed out."""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigstack.protocol import merkle
from sigstack.protocol import sct as ctsct
from sigstack.services.fulcio.ca import CertificateAuthority
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.fulcio.identity import Principal
from sigstack.services.keys import load_signer
from tests.support.dbs import fresh_postgres
from tests.support.servers import Service

pytestmark = pytest.mark.xdist_group("servers")
CLIENTS = 16


def _chains(tmp: Path) -> tuple[Path, list[list[bytes]]]:
    paths = create_ca(tmp / "ca", algorithm="ecdsa-p256", common_name="ct concurrency")
    chain = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
    ca = CertificateAuthority(load_signer(f"file:{paths['intermediate-key.pem']}"), chain)
    out = []
    for n in range(CLIENTS):
        who = Principal(f"u{n}@example.com", x509.RFC822Name(f"u{n}@example.com"),
                        {"issuer": "https://i", "issuer_v1": "https://i", "token_subject": "s"})  # fmt: skip
        key = ec.generate_private_key(ec.SECP256R1())
        precert = ca.precertificate(ca.leaf_builder(who, key.public_key()))
        out.append([precert.public_bytes(serialization.Encoding.DER), *ca.chain_der])
    return paths["root.pem"], out


def _client(url: str, n: int, chains: list[list[bytes]], out: dict[str, Any]) -> None:
    with requests.Session() as http:
        for chain in (chains[n], chains[(n + 1) % len(chains)]):
            body = {"chain": [base64.b64encode(c).decode() for c in chain]}
            resp = http.post(f"{url}/ct/v1/add-pre-chain", json=body, timeout=60)
            out["statuses"].append(resp.status_code)
            if resp.status_code == 200:
                out["scts"].setdefault(chain[0], []).append(resp.json())
            sth = http.get(f"{url}/ct/v1/get-sth", timeout=60)
            out["statuses"].append(sth.status_code)
            if sth.status_code == 200:
                out["sths"].append(sth.json())


def _run(srv: Service, chains: list[list[bytes]], key: Any) -> None:
    out: dict[str, Any] = {"statuses": [], "scts": {}, "sths": []}
    threads = [threading.Thread(target=_client, args=(srv.url, n, chains, out))
               for n in range(CLIENTS)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(out["statuses"]) == {200}
    assert len(out["scts"]) == CLIENTS
    for answers in out["scts"].values():
        assert len(answers) == 2  # the first submission and the neighbour's re-submission
        assert answers[0]["timestamp"] == answers[1]["timestamp"]  # the same entry, once
    sth = requests.get(f"{srv.url}/ct/v1/get-sth", timeout=30).json()
    assert sth["tree_size"] == CLIENTS
    got = requests.get(f"{srv.url}/ct/v1/get-entries", params={"start": 0, "end": CLIENTS - 1},
                       timeout=30).json()["entries"]  # fmt: skip
    leaves = [base64.b64decode(e["leaf_input"]) for e in got]
    assert len(set(leaves)) == CLIENTS
    root = base64.b64decode(sth["sha256_root_hash"])
    assert merkle.root_of([merkle.leaf_hash(x) for x in leaves]) == root
    for old in out["sths"]:
        data = ctsct.tree_head_signed_data(old["timestamp"], old["tree_size"],
                                           base64.b64decode(old["sha256_root_hash"]))  # fmt: skip
        hash_alg, _sig_alg, signature = ctsct.parse_digitally_signed(
            base64.b64decode(old["tree_head_signature"])
        )
        ctsct.verify_digitally_signed(key, hash_alg, signature, data)
        if 0 < old["tree_size"] < CLIENTS:
            proof = requests.get(f"{srv.url}/ct/v1/get-sth-consistency",
                                 params={"first": old["tree_size"], "second": CLIENTS},
                                 timeout=30).json()["consistency"]  # fmt: skip
            merkle.verify_consistency(old["tree_size"], CLIENTS,
                                      [base64.b64decode(h) for h in proof],
                                      base64.b64decode(old["sha256_root_hash"]), root)  # fmt: skip


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_concurrent_submissions_duplicates_and_reads(tmp_path: Path, database: str) -> None:
    roots, chains = _chains(tmp_path)
    data, log = tmp_path / "ct", tmp_path / "ct.log"
    args = ["--data-dir", str(data), "--roots", str(roots)]
    if database == "sqlite":
        with Service("ctlog", *args, log=log) as srv:
            _run(srv, chains, load_signer(f"file:{data / 'ctlog-key.pem'}").public_key)
    else:
        with (
            fresh_postgres() as url,
            Service("ctlog", *args, "--database-url", url, log=log) as srv,
        ):
            _run(srv, chains, load_signer(f"file:{data / 'ctlog-key.pem'}").public_key)
    assert "Traceback" not in log.read_text()

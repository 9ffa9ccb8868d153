"""The RFC 6962 CT log over HTTP: submissions, SCTs, STHs, proofs, entries, roots, refusals."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.protocol import merkle
from sigstack.protocol import sct as ctsct
from sigstack.services.fulcio.ca import CertificateAuthority
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.fulcio.identity import Principal
from sigstack.services.keys import load_signer
from tests.support.fulcio import make_ctlog
from tests.support.keys import new_key

DER = serialization.Encoding.DER


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("ctlog")
    paths = create_ca(tmp / "ca", algorithm="ecdsa-p256")
    chain = x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes())
    ca = CertificateAuthority(load_signer(f"file:{paths['intermediate-key.pem']}"), chain)
    server, ctlog = make_ctlog(tmp / "ct", paths["root.pem"].read_bytes())
    yield {"ca": ca, "url": server.url, "ctlog": ctlog, "tmp": tmp, "paths": paths}
    server.close()


def _certs(ca: CertificateAuthority) -> tuple[x509.Certificate, x509.Certificate]:
    who = Principal("a@example.com", x509.RFC822Name("a@example.com"),
                    {"issuer": "https://i", "issuer_v1": "https://i", "token_subject": "s"})  # fmt: skip
    builder = ca.leaf_builder(who, new_key("ec-p256").public_key())
    return ca.precertificate(builder), ca.plain(builder)


def _post(env: dict[str, Any], path: str, chain: list[bytes]) -> requests.Response:
    body = {"chain": [base64.b64encode(c).decode() for c in chain]}
    return requests.post(f"{env['url']}/ct/v1/{path}", json=body, timeout=10)


def _get(env: dict[str, Any], path: str, **params: Any) -> requests.Response:
    return requests.get(f"{env['url']}/ct/v1/{path}", params=params, timeout=10)


def test_precert_sct_sth_and_proofs(env: dict[str, Any]) -> None:
    ca, key = env["ca"], env["ctlog"].signer.public_key
    precert, _ = _certs(ca)
    chain = [precert.public_bytes(DER), *ca.chain_der]
    resp = _post(env, "add-pre-chain", chain)
    assert resp.status_code == 200
    sct = ctsct.SignedCertificateTimestamp.from_json(resp.json())
    assert sct.log_id == hashlib.sha256(env["ctlog"].signer.public_der).digest()
    issuer_spki = ca.issuer.public_key().public_bytes(
        DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ikh = hashlib.sha256(issuer_spki).digest()
    tbs = ctsct.strip_extension_from_tbs(precert.tbs_certificate_bytes)
    sct.verify(key, ctsct.precert_signed_data(sct.timestamp, ikh, tbs))
    # resubmission: same entry, same timestamp
    again = ctsct.SignedCertificateTimestamp.from_json(_post(env, "add-pre-chain", chain).json())
    assert again.timestamp == sct.timestamp
    sth = _get(env, "get-sth").json()
    root = base64.b64decode(sth["sha256_root_hash"])
    hash_alg, _, sig = ctsct.parse_digitally_signed(base64.b64decode(sth["tree_head_signature"]))
    ctsct.verify_digitally_signed(
        key, hash_alg, sig, ctsct.tree_head_signed_data(sth["timestamp"], sth["tree_size"], root)
    )
    leaf_input = ctsct.merkle_tree_leaf(sct.timestamp, ctsct.PRECERT_ENTRY,
                                        ctsct.precert_signed_entry(ikh, tbs), b"")  # fmt: skip
    leaf_hash = merkle.leaf_hash(leaf_input)
    proof = _get(env, "get-proof-by-hash", hash=base64.b64encode(leaf_hash).decode(),
                 tree_size=sth["tree_size"]).json()  # fmt: skip
    merkle.verify_inclusion(proof["leaf_index"], sth["tree_size"], leaf_hash,
                            [base64.b64decode(h) for h in proof["audit_path"]], root)  # fmt: skip
    entries = _get(env, "get-entries", start=proof["leaf_index"], end=proof["leaf_index"]).json()
    assert base64.b64decode(entries["entries"][0]["leaf_input"]) == leaf_input
    extra = base64.b64decode(entries["entries"][0]["extra_data"])
    assert extra.startswith(len(chain[0]).to_bytes(3, "big") + chain[0])
    ep = _get(env, "get-entry-and-proof", leaf_index=proof["leaf_index"],
              tree_size=sth["tree_size"]).json()  # fmt: skip
    assert ep["audit_path"] == proof["audit_path"]


def test_final_cert_add_chain_and_consistency(env: dict[str, Any]) -> None:
    ca, key = env["ca"], env["ctlog"].signer.public_key
    # at least one entry before the first head: consistency from an empty tree means nothing,
    # and test order (or xdist) must not decide whether this test passes
    _post(env, "add-pre-chain", [_certs(ca)[0].public_bytes(DER), *ca.chain_der])
    first = _get(env, "get-sth").json()
    _, final = _certs(ca)
    der = final.public_bytes(DER)
    resp = _post(env, "add-chain", [der, *ca.chain_der])
    assert resp.status_code == 200
    sct = ctsct.SignedCertificateTimestamp.from_json(resp.json())
    sct.verify(key, ctsct.x509_signed_data(sct.timestamp, der))
    for _ in range(3):
        _post(env, "add-pre-chain", [_certs(ca)[0].public_bytes(DER), *ca.chain_der])
    second = _get(env, "get-sth").json()
    proof = _get(env, "get-sth-consistency", first=first["tree_size"],
                 second=second["tree_size"]).json()["consistency"]  # fmt: skip
    merkle.verify_consistency(first["tree_size"], second["tree_size"],
                              [base64.b64decode(h) for h in proof],
                              base64.b64decode(first["sha256_root_hash"]),
                              base64.b64decode(second["sha256_root_hash"]))  # fmt: skip
    roots = _get(env, "get-roots").json()["certificates"]
    assert [base64.b64decode(r) for r in roots] == [ca.chain_der[-1]]


def test_refusals(env: dict[str, Any], tmp_path: Path) -> None:
    ca = env["ca"]
    # one entry first, so that the tree_size=1 probe below is valid whatever ran before
    _post(env, "add-pre-chain", [_certs(ca)[0].public_bytes(DER), *ca.chain_der])
    size = env["ctlog"].log.head().size
    precert, final = _certs(ca)
    other_paths = create_ca(tmp_path / "other", algorithm="ecdsa-p256")
    other = CertificateAuthority(
        load_signer(f"file:{other_paths['intermediate-key.pem']}"),
        x509.load_pem_x509_certificates(other_paths["chain.pem"].read_bytes()),
    )
    foreign, _ = _certs(other)
    cases = [
        ("add-pre-chain", [foreign.public_bytes(DER), *other.chain_der]),  # not our root
        ("add-pre-chain", [final.public_bytes(DER), *ca.chain_der]),  # not a precert
        ("add-chain", [precert.public_bytes(DER), *ca.chain_der]),  # a precert
        ("add-pre-chain", [precert.public_bytes(DER), ca.chain_der[1], ca.chain_der[0]]),  # order
        ("add-pre-chain", [precert.public_bytes(DER)]),  # no issuer
        ("add-pre-chain", [b"junk"]),
        ("add-pre-chain", []),
    ]
    for path, chain in cases:
        assert _post(env, path, chain).status_code == 400, (path, len(chain))
    assert requests.post(f"{env['url']}/ct/v1/add-chain", json={"chain": ["%%"]},
                         timeout=10).status_code == 400  # fmt: skip
    assert _get(env, "get-proof-by-hash", hash=base64.b64encode(b"\0" * 32).decode(),
                tree_size=1).status_code == 404  # fmt: skip
    assert _get(env, "get-sth-consistency", first=5, second=10**9).status_code == 400
    assert _get(env, "get-entries", start="x", end=1).status_code == 400
    assert env["ctlog"].log.head().size == size


def test_chains_cryptography_cannot_read_are_refused(env: dict[str, Any]) -> None:
    """Each was a 500 (found by fuzzing): a version-4 certificate (``InvalidVersion``), a leaf
    with a repeated or malformed extension (``DuplicateExtension``, ``ValueError``), an issuer
    whose key type is unknown (``UnsupportedAlgorithm`` from the signature check)."""
    from sigstack.protocol.errors import ValidationError
    from tests.unit.fuzz import broken

    ca = env["ca"]
    precert = _certs(ca)[0].public_bytes(DER)
    size = env["ctlog"].log.head().size
    chains = [
        [broken.bad_version(precert), *ca.chain_der],
        [broken.duplicated_extension(precert), *ca.chain_der],
        [broken.malformed_extension(precert), *ca.chain_der],
        [precert, broken.unknown_key_type(ca.chain_der[0]), *ca.chain_der[1:]],
    ]
    for chain in chains:
        with pytest.raises(ValidationError):
            env["ctlog"].add_chain(chain, precert=True)
    assert env["ctlog"].log.head().size == size


def test_sct_structures_round_trip() -> None:
    sct = ctsct.SignedCertificateTimestamp(b"\x07" * 32, 1234, b"sig", extensions=b"\x00\x00\x05")
    assert ctsct.SignedCertificateTimestamp.from_bytes(sct.to_bytes()) == sct
    assert ctsct.SignedCertificateTimestamp.from_json(sct.to_json()) == sct
    assert ctsct.decode_sct_list(ctsct.encode_sct_list([sct, sct])) == [sct, sct]
    value = ctsct.sct_list_extension_value([sct])
    assert value[0] == 0x04 and value[2:] == ctsct.encode_sct_list([sct])
    from sigstack.protocol.errors import ValidationError

    for bad in (sct.to_bytes()[:-1], sct.to_bytes() + b"\x00", b"\x01" + sct.to_bytes()[1:]):
        with pytest.raises(ValidationError):
            ctsct.SignedCertificateTimestamp.from_bytes(bad)
    with pytest.raises(ValidationError):
        ctsct.SignedCertificateTimestamp.from_json({"sct_version": 0})


def test_scts_from_a_certificate_whose_extensions_do_not_parse() -> None:
    """A repeated or malformed extension is a ValidationError, not cryptography's
    DuplicateExtension / ValueError (found by fuzzing)."""
    from sigstack.protocol.errors import ValidationError
    from tests.unit.fuzz import seeds
    from tests.unit.fuzz.broken import duplicated_extension, malformed_extension

    der = seeds.certificates()[0]
    assert ctsct.scts_from_certificate(x509.load_der_x509_certificate(der))
    for broken in (duplicated_extension(der), malformed_extension(der)):
        with pytest.raises(ValidationError, match="extensions do not parse"):
            ctsct.scts_from_certificate(x509.load_der_x509_certificate(broken))


def test_strip_poison_matches_final_tbs(env: dict[str, Any]) -> None:
    precert, final = _certs(env["ca"])
    assert (
        ctsct.strip_extension_from_tbs(precert.tbs_certificate_bytes) == final.tbs_certificate_bytes
    )
    from sigstack.protocol.errors import ValidationError

    with pytest.raises(ValidationError):
        ctsct.strip_extension_from_tbs(final.tbs_certificate_bytes)
    with pytest.raises(ValidationError):
        ctsct.strip_extension_from_tbs(b"\x30\x05\x02\x01")


def test_precertificate_signing_issuer_refused_every_time(env: dict[str, Any]) -> None:
    """RFC 6962 3.1's precertificate-signing certificates are not supported; the refusal holds on
    a repeated submission too (the issuer facts are cached only for accepted issuers)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes

    root = x509.load_pem_x509_certificate(env["paths"]["root.pem"].read_bytes())
    root_key = serialization.load_pem_private_key(env["paths"]["root-key.pem"].read_bytes(), None)
    signing_key = new_key("ec-p256")
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "precert signing")])
    signing_cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(root.subject)
        .public_key(signing_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ctsct.OID_PRECERT_SIGNING_EKU]), critical=False)
        .sign(root_key, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    precert = (
        x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(name)
        .public_key(new_key("ec-p256").public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(minutes=10))
        .add_extension(x509.PrecertPoison(), critical=True)
        .sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    chain = [c.public_bytes(DER) for c in (precert, signing_cert, root)]
    size = env["ctlog"].log.head().size
    for _ in range(2):
        resp = _post(env, "add-pre-chain", chain)
        assert resp.status_code == 400 and "precertificate-signing" in resp.text
    assert env["ctlog"].log.head().size == size


@pytest.mark.parametrize("body", [b"[" * 5000 + b"]" * 5000, b'{"chain": NaN}',
                                  b'{"chain": [], "chain": ["x"]}', b"\xff\xfe"])  # fmt: skip
def test_json_outside_rfc_8259_is_400(env: dict[str, Any], body: bytes) -> None:
    size = env["ctlog"].log.head().size
    resp = requests.post(f"{env['url']}/ct/v1/add-chain", data=body,
                         headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
    assert resp.status_code == 400, resp.text
    assert "Traceback" not in resp.text
    assert env["ctlog"].log.head().size == size

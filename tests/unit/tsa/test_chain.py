"""The TSA chain checks made before anything is signed: every rule of docs/tsa.md ("Chain rules")
refused with a message that names it; chains from ``create_chain`` pass."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import public_key_der
from sigstack.services.tsa.chain import check_chain, load_chain, load_chain_file
from tests.unit.tsa.helpers import NOW, TIMESTAMPING, cert, dev_chain, ec_key

CODE_SIGNING = x509.oid.ExtendedKeyUsageOID.CODE_SIGNING
ANY = x509.oid.ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
CA_KU = {"key_cert_sign": True, "crl_sign": True}
LEAF_KU = {"digital_signature": True}


def _chain(
    *,
    leaf: Callable[..., x509.Certificate] | None = None,
    leaf_key: object = None,
    intermediate: dict[str, object] | None = None,
    root: dict[str, object] | None = None,
    with_intermediate: bool = False,
    **leaf_args: object,
) -> tuple[list[x509.Certificate], bytes]:
    """A root (+ intermediate) + leaf, good unless told otherwise; returns (chain, leaf key DER)."""
    root_key, inter_key = ec_key(), ec_key()
    key = leaf_key or ec_key()
    root_args: dict[str, object] = {"ca": True, "path_length": 1, "key_usage": CA_KU}
    root_args.update(root or {})
    root_cert = cert("root", root_key, **root_args)  # type: ignore[arg-type]
    issuer = (root_cert, root_key)
    chain = [root_cert]
    if with_intermediate:
        args: dict[str, object] = {
            "ca": True,
            "path_length": 0,
            "key_usage": CA_KU,
            "eku": [TIMESTAMPING],
            "eku_critical": False,
        }
        args.update(intermediate or {})
        inter = cert("intermediate", inter_key, issuer, **args)  # type: ignore[arg-type]
        chain.insert(0, inter)
        issuer = (inter, inter_key)
    args = {"eku": [TIMESTAMPING], "key_usage": LEAF_KU}
    args.update(leaf_args)
    chain.insert(0, cert("tsa", key, issuer, **args))  # type: ignore[arg-type]
    return chain, public_key_der(key.public_key())  # type: ignore[attr-defined]


def test_good_chains(tmp_path: Path) -> None:
    for inter in (False, True):
        chain, key = _chain(with_intermediate=inter)
        check_chain(chain, key)
        check_chain(chain)  # the key left to the worker (HSM)
    for n, (algorithm, inter) in enumerate([("ecdsa-p256", False), ("ecdsa-p384", True)]):
        made = dev_chain(tmp_path / str(n), inter, algorithm)
        check_chain(made.certs, made.signer().public_der)


def test_leaf_without_key_usage_and_with_non_repudiation() -> None:
    chain, key = _chain(key_usage=None)
    check_chain(chain, key)
    chain, key = _chain(key_usage={"digital_signature": True, "content_commitment": True})
    check_chain(chain, key)
    chain, key = _chain(key_usage={"content_commitment": True})
    check_chain(chain, key)


def test_leaf_with_basic_constraints_ca_false_passes() -> None:
    chain, key = _chain(ca=False)
    check_chain(chain, key)


def test_intermediate_eku_absent_or_any_passes() -> None:
    for eku in (None, [ANY], [CODE_SIGNING, TIMESTAMPING]):
        chain, key = _chain(with_intermediate=True, intermediate={"eku": eku})
        check_chain(chain, key)


REFUSED: dict[str, tuple[dict[str, object], str]] = {
    "eku-missing": ({"eku": None}, "no extended key usage"),
    "eku-not-critical": ({"eku_critical": False}, "must be marked critical"),
    "eku-two-purposes": ({"eku": [TIMESTAMPING, CODE_SIGNING]}, "exactly one purpose"),
    "eku-code-signing": ({"eku": [CODE_SIGNING]}, "exactly one purpose"),
    "eku-any": ({"eku": [ANY]}, "exactly one purpose"),
    "leaf-is-ca": ({"ca": True}, "must not be a CA"),
    "leaf-key-cert-sign": (
        {"key_usage": {"digital_signature": True, "key_cert_sign": True}},
        "key usage may only be",
    ),
    "leaf-key-encipherment": ({"key_usage": {"key_encipherment": True}}, "key usage may only"),
    "leaf-expired": (
        {"not_before": NOW - dt.timedelta(days=30), "not_after": NOW - dt.timedelta(days=1)},
        "is not valid now",
    ),
    "leaf-not-yet-valid": ({"not_before": NOW + dt.timedelta(days=1)}, "is not valid now"),
    "leaf-rsa": ({"leaf_key": rsa.generate_private_key(65537, 2048)}, "P-256 or P-384"),
    "leaf-ed25519": ({"leaf_key": ed25519.Ed25519PrivateKey.generate()}, "P-256 or P-384"),
    "leaf-p521": ({"leaf_key": ec.generate_private_key(ec.SECP521R1())}, "P-256 or P-384"),
    "root-not-ca": ({"root": {"ca": None}}, "certificate 2 of the TSA chain is not a CA"),
    "root-ca-false": ({"root": {"ca": False, "path_length": None}}, "is not a CA"),
    "root-no-cert-sign": ({"root": {"key_usage": {"crl_sign": True}}}, "lacks keyCertSign"),
    "root-expired": ({"root": {"not_after": NOW - dt.timedelta(seconds=1)}}, "not valid now"),
    "intermediate-not-ca": (
        {"with_intermediate": True, "intermediate": {"ca": None}},
        "certificate 2 of the TSA chain is not a CA",
    ),
    "intermediate-code-signing": (
        {"with_intermediate": True, "intermediate": {"eku": [CODE_SIGNING]}},
        "usage without timeStamping",
    ),
    "root-path-length": (
        {"with_intermediate": True, "root": {"path_length": 0}},
        "allows 0 CA certificates below it, the chain has 1",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused(case: str) -> None:
    args, message = REFUSED[case]
    chain, key = _chain(**args)  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as err:
        check_chain(chain, key)
    assert message in err.value.message


def test_key_mismatch() -> None:
    chain, _ = _chain()
    with pytest.raises(ConfigError, match="does not match the first certificate"):
        check_chain(chain, public_key_der(ec_key().public_key()))


def test_too_short_wrong_order_and_no_root() -> None:
    chain, key = _chain(with_intermediate=True)
    with pytest.raises(ConfigError, match="at least two certificates"):
        check_chain(chain[:1], key)
    with pytest.raises(ConfigError, match="not in order"):
        check_chain([chain[0], chain[2], chain[1]], key)
    with pytest.raises(ConfigError, match="not a self-signed root"):
        check_chain(chain[:2], key)
    with pytest.raises(ConfigError):  # reversed: the root is not a timestamping leaf
        check_chain(list(reversed(chain)), key)


def test_issuer_with_same_name_other_key() -> None:
    """A certificate named like the issuer but not signed by its key is refused."""
    chain, key = _chain()
    impostor = cert("root", ec_key(), ca=True, path_length=1, key_usage=CA_KU)
    with pytest.raises(ConfigError, match="not in order"):
        check_chain([chain[0], impostor], key)


def test_loading(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a list of PEM"):
        load_chain(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="cannot read the TSA chain"):
        load_chain_file(tmp_path / "absent.pem")
    with pytest.raises(ConfigError, match="needs a certificate chain"):
        load_chain_file(None)
    made = dev_chain(tmp_path / "c")
    assert load_chain_file(made.chain_file) == made.certs

"""Real service parts the fuzz properties drive, built once per process.

- ``issuer()``: the throw-away OIDC provider of the Fulcio tests (discovery and JWKS over HTTP on
  127.0.0.1), and ``tokens()``: one valid identity token per issuer type Fulcio supports;
- ``fulcio()``: ``services.fulcio.service.Fulcio`` with an ephemeral CA and no CT log, its
  issuers configured as in tests/unit/fulcio/conftest.py;
- ``ctlog()``: ``services.ctlog.log.CTLog`` on a SQLite database in a temporary directory,
  accepting the Fulcio CA's root, with a precertificate chain and a final certificate chain.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from sigstack.services.fulcio.ca import CertificateAuthority
from sigstack.services.fulcio.cli import ca_certificate
from sigstack.services.fulcio.config import parse_identity_config
from sigstack.services.fulcio.identity import Principal
from sigstack.services.fulcio.service import Fulcio
from sigstack.services.fulcio.tokens import TokenVerifier
from sigstack.services.keys import load_signer
from sigstack.services.keys.certificates import name
from tests.support.fulcio import identity_config
from tests.support.keys import new_key
from tests.support.oidc import GITHUB_CLAIMS, GITLAB_CLAIMS, OIDCIssuer


@functools.cache
def issuer() -> OIDCIssuer:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per JWKS request otherwise
    return OIDCIssuer(("RS256", "ES256", "EdDSA"))


@functools.cache
def claim_sets() -> list[dict[str, Any]]:
    """The claims (besides iss, sub, aud, iat, exp) of one valid token per issuer type."""
    k8s = {"kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "sa"}}}
    return [
        {"iss": "", "sub": "1234", "email": "alice@example.com", "email_verified": True},
        {"iss": "/corp", "sub": "1", "email": "bob@example.com", "federated": {"connector": "x"}},
        {"iss": "/uri", "sub": "https://build.example.com/job/1"},
        {"iss": "/username", "sub": "alice"},
        {"iss": "/k8s", "sub": "system:serviceaccount:ns:sa", **k8s},
        {"iss": "/spiffe", "sub": "spiffe://example.org/workload"},
        {"iss": "/github", "sub": "repo:octo/app:ref:refs/tags/v1", **GITHUB_CLAIMS},
        {"iss": "/gitlab", "sub": "project_path:grp/proj", **GITLAB_CLAIMS},
        {"iss": "/meta/tenant-1", "sub": "9", "email": "gil@example.com", "email_verified": True},
    ]


def sign_claims(claims: dict[str, Any], alg: str = "RS256") -> str:
    """A token of the test issuer over ``claims`` exactly as given (``iss`` relative to it)."""
    oidc = issuer()
    full = dict(claims)
    if isinstance(full.get("iss"), str):
        full["iss"] = oidc.url + full["iss"]
    return oidc.raw_token(json.dumps(full).encode("utf-8", "surrogatepass"), alg=alg)


@functools.cache
def tokens() -> list[str]:
    base = {"aud": "sigstore", "iat": 1700000000, "exp": 4102444800}
    algs = ("RS256", "ES256", "EdDSA")
    return [sign_claims({**base, **c}, algs[i % 3]) for i, c in enumerate(claim_sets())]


@functools.cache
def fulcio() -> Fulcio:
    signer = load_signer("ephemeral:ecdsa-p256")
    root = ca_certificate(signer, name("fuzz-root", "sigstack"), years=1, path_length=1,
                          code_signing=False)  # fmt: skip
    identity = parse_identity_config(identity_config(issuer().url))
    # the refetch interval keeps mutated kids from making a JWKS request each
    verifier = TokenVerifier(identity, refetch_interval=3600.0)
    return Fulcio(identity, CertificateAuthority(signer, [root]), None, verifier=verifier)


class CTLogContext:
    def __init__(self) -> None:
        from sigstack.services.ctlog.log import CTLog
        from sigstack.services.runtime import db

        self._tmp = tempfile.TemporaryDirectory(prefix="sigstack-fuzz-ctlog-")
        url = db.sqlite_url(f"{self._tmp.name}/ctlog.db")
        db.upgrade(url)
        ca = fulcio().ca
        self.log = CTLog(
            db.make_engine(url), load_signer("ephemeral:ecdsa-p256"), list(ca.chain),
            create=True, batch_wait=0.001,
        )  # fmt: skip
        who = Principal("a@example.com", x509.RFC822Name("a@example.com"),
                        {"issuer": "https://i", "issuer_v1": "https://i", "token_subject": "s"})  # fmt: skip
        builder = ca.leaf_builder(who, new_key("ec-p256").public_key())
        der = serialization.Encoding.DER
        above = [c.public_bytes(der) for c in ca.chain]
        self.precert_chain = [ca.precertificate(builder).public_bytes(der), *above]
        self.final_chain = [ca.plain(builder).public_bytes(der), *above]


@functools.cache
def ctlog() -> CTLogContext:
    return CTLogContext()

"""A Fulcio app (Flask test client) backed by a real CT log over HTTP and a throw-away OIDC issuer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from sigstack.services.fulcio.app import create_app
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.fulcio.config import FulcioConfig
from tests.support.fulcio import identity_config, make_ctlog
from tests.support.keys import pem_public
from tests.support.oidc import OIDCIssuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[OIDCIssuer]:
    oidc = OIDCIssuer(("RS256", "ES256", "EdDSA", "PS256", "ES384"))
    yield oidc
    oidc.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, issuer: OIDCIssuer) -> Iterator[dict[str, Any]]:
    tmp: Path = tmp_path_factory.mktemp("fulcio")
    paths = create_ca(tmp / "ca", algorithm="ecdsa-p256")
    server, ctlog = make_ctlog(tmp / "ct", paths["root.pem"].read_bytes())
    (tmp / "ct.pub").write_bytes(pem_public(ctlog.signer.public_key))
    config = {
        **identity_config(issuer.url, corp_client_id="trusted-artifact-signer"),
        "ca_key": f"file:{paths['intermediate-key.pem']}",
        "ca_chain": str(paths["chain.pem"]),
        "ct_log_url": server.url,
        "ct_log_public_key": str(tmp / "ct.pub"),
    }  # fmt: skip
    app = create_app(FulcioConfig.from_mapping(json.loads(json.dumps(config))))
    yield {
        "client": app.test_client(),
        "ctlog": ctlog,
        "chain": x509.load_pem_x509_certificates(paths["chain.pem"].read_bytes()),
        "paths": paths,
        "tmp": tmp,
        "config": config,
        "ct_url": server.url,
    }
    server.close()


@pytest.fixture()
def unchanged(stack: dict[str, Any]) -> Iterator[None]:
    """Fails the test if the request it makes issued a certificate or reached the CT log."""
    fulcio = stack["client"].application.extensions["fulcio"]
    issued, size = fulcio.issued, stack["ctlog"].log.head().size
    yield
    assert fulcio.issued == issued, "a refused request issued a certificate"
    assert stack["ctlog"].log.head().size == size, "a refused request reached the CT log"

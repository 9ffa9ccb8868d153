"""Real seed material from tests/data for the fuzz properties and the atheris corpus.

Bundles (the conformance cases and sigstore-python's test assets), their certificates (DER),
the SCT lists and SCTs embedded in those certificates, trusted roots, signing configs and client
trust configs. Everything is read once per process; nothing outside the repository is read.
"""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sigstack.protocol import sct
from tests.support.testdata import TESTDATA

ASSETS = TESTDATA / "pyassets" / "test-assets"
CASES = TESTDATA / "pyassets" / "cases"


def _files(*patterns: str) -> list[Path]:
    out: list[Path] = []
    for pattern in patterns:
        out += sorted(TESTDATA.glob(pattern))
    return out


@functools.cache
def bundles() -> list[bytes]:
    paths = _files(
        "pyassets/cases/*/bundle.sigstore.json",
        "pyassets/test-assets/*.sigstore",
        "pyassets/test-assets/*.sigstore.json",
        "pyassets/test-assets/integration/*.sigstore",
        "pyassets/test-assets/tsa/*.sigstore",
    )
    return [p.read_bytes() for p in paths]


@functools.cache
def certificates() -> list[bytes]:
    """DER certificates: bundle leaves and chains, the test assets' .crt and x509/ files."""
    out: list[bytes] = []
    for raw in bundles():
        material = json.loads(raw).get("verificationMaterial", {})
        if "certificate" in material:
            out.append(base64.b64decode(material["certificate"]["rawBytes"]))
        for c in material.get("x509CertificateChain", {}).get("certificates", []):
            out.append(base64.b64decode(c["rawBytes"]))
    for path in _files("pyassets/test-assets/*.crt", "pyassets/test-assets/x509/bogus-*.pem"):
        try:
            certs = x509.load_pem_x509_certificates(path.read_bytes())
        except ValueError:
            continue  # bad.txt.crt is not a certificate on purpose
        out += [cert.public_bytes(Encoding.DER) for cert in certs]
    return list(dict.fromkeys(out))


@functools.cache
def sct_lists() -> list[bytes]:
    """The TLS SignedCertificateTimestampList of every real certificate that embeds one."""
    out = []
    for der in certificates():
        cert = x509.load_der_x509_certificate(der)
        try:
            ext = cert.extensions.get_extension_for_oid(sct.OID_SCT_LIST)
        except x509.ExtensionNotFound:
            continue
        raw = ext.value.public_bytes()  # type: ignore[attr-defined]
        out.append(raw[2:] if raw[1] < 0x80 else raw[2 + (raw[1] & 0x7F) :])
    return out


@functools.cache
def trusted_roots() -> list[bytes]:
    paths = _files(
        "pyassets/trust/*/trusted_root.json",
        "pyassets/cases/staging-v0.3-happy-path/trusted_root.json",
        "pyassets/cases/production-v0.2-github-actions-wheel/trusted_root.json",
        "pyassets/test-assets/trusted_root/trustedroot*.json",
        "pyassets/test-assets/staging-tuf/targets/*.trusted_root.json",
    )
    return [p.read_bytes() for p in paths]


@functools.cache
def signing_configs() -> list[bytes]:
    paths = _files(
        "pyassets/trust/*/signing_config.v0.2.json",
        "pyassets/test-assets/signing_config/*.json",
        "pyassets/test-assets/staging-tuf/targets/*.signing_config.v0.2.json",
    )
    return [p.read_bytes() for p in paths]


@functools.cache
def trust_configs() -> list[bytes]:
    paths = _files("pyassets/test-assets/trust_config/*.json", "pyassets/test-assets/tsa/*.json")
    return [p.read_bytes() for p in paths]


@functools.cache
def certificate_authorities() -> list[bytes]:
    return [p.read_bytes() for p in _files("pyassets/test-assets/trusted_root/certificate_*.json")]

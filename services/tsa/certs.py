"""Making a TSA chain: root, optional intermediate, and the timestamping leaf (``sigstack tsa
create-chain``, and the development chain a new data directory gets).

Profile (docs/tsa.md; the public-good TSA's certificates and upstream ``pkg/certmaker`` templates):

- root: subject O + CN, KeyUsage keyCertSign|cRLSign critical, BasicConstraints CA critical with
  pathLen 0 (1 with an intermediate), SubjectKeyIdentifier, 10 years;
- intermediate: the same with pathLen 0, AuthorityKeyIdentifier and ExtendedKeyUsage
  timeStamping (sigstore-go and upstream's ``--enforce-intermediate-eku`` want it there);
- leaf: subject O + CN, KeyUsage digitalSignature critical, ExtendedKeyUsage **critical** with
  exactly timeStamping (RFC 3161 section 2.3), no BasicConstraints (an end entity), SKI, AKI;
  validity up to its issuer's end.

Keys come through signer URIs: ``--key`` (the leaf's), ``--root-key``, ``--intermediate-key``;
those not given are new ECDSA keys written beside the certificates (PKCS#8, 0600, encrypted
with ``--passphrase-env`` when given). ``ephemeral:`` as a root or intermediate key means a key
used for this signature and then forgotten (a chain that can never issue another leaf).
``--generate`` creates the ``pkcs11:`` keys named on their token first. Nothing existing is
overwritten; the result is checked with ``chain.check_chain`` before anything is written.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import Signer, certificates, create_file_key, load_signer
from sigstack.services.keys.certificates import name, write_new

from .chain import check_chain

ALGORITHMS = {"ecdsa-p256": "secp256r1", "ecdsa-p384": "secp384r1"}
YEARS = 10


def _hash_for(signer: Signer) -> hashes.SHA256 | hashes.SHA384:
    key = signer.public_key
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in ALGORITHMS.values():
        raise ConfigError(f"{signer!r}: TSA chain keys must be ECDSA P-256 or P-384")
    return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()


def certificate(
    signer: Signer,
    subject: x509.Name,
    *,
    kind: str,
    issuer: x509.Certificate | None = None,
    issuer_signer: Signer | None = None,
    path_length: int = 0,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """One certificate of the profile above; ``kind`` is ``root``, ``intermediate`` or ``leaf``."""
    start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) - dt.timedelta(minutes=5)
    parent = issuer_signer or signer
    b = certificates.builder(signer, subject, issuer, start, YEARS).add_extension(
        x509.SubjectKeyIdentifier.from_public_key(signer.public_key),
        critical=False,
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    if kind == "leaf":
        b = b.add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    else:
        b = b.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        ).add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        if kind == "intermediate":
            b = b.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=False
            )
    return b.sign(parent.private_key, _hash_for(parent))


def _signer(
    uri: str | None,
    path: Path,
    algorithm: str,
    passphrase_env: str | None,
    generate: bool,
    environ: Mapping[str, str],
) -> Signer:
    if uri is None:
        passphrase = None
        if passphrase_env:
            if passphrase_env not in environ:
                raise ConfigError(f"passphrase variable {passphrase_env} is not set")
            passphrase = environ[passphrase_env].encode()
        create_file_key(path, algorithm, passphrase)
        suffix = f"?passphrase-env={passphrase_env}" if passphrase_env else ""
        return load_signer(f"file:{path.resolve()}{suffix}", environ)
    if generate and uri.startswith("pkcs11:"):
        from sigstack.services.keys import pkcs11

        return pkcs11.generate(uri, ALGORITHMS[algorithm], environ)
    return load_signer(uri, environ)


def create_chain(
    out_dir: Path,
    *,
    intermediate: bool = False,
    key_uri: str | None = None,
    root_key_uri: str | None = None,
    intermediate_key_uri: str | None = None,
    generate: bool = False,
    algorithm: str = "ecdsa-p256",
    organization: str = "sigstack",
    common_name: str = "sigstack-tsa",
    passphrase_env: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Path]:
    """Make and write a TSA chain (see module docstring); returns the paths written by name."""
    environ = os.environ if environ is None else environ
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"--algorithm must be one of {', '.join(ALGORITHMS)}")
    if intermediate_key_uri and not intermediate:
        raise ConfigError("--intermediate-key needs --intermediate")
    if key_uri and key_uri.startswith("ephemeral:"):
        raise ConfigError("the TSA key cannot be ephemeral: it must sign timestamps later")
    given = [u for u in (key_uri, root_key_uri, intermediate_key_uri) if u]
    if generate and not any(u.startswith("pkcs11:") for u in given):
        raise ConfigError("--generate creates pkcs11: keys; name at least one with a key option")
    keys = {"leaf-key.pem": key_uri, "root-key.pem": root_key_uri}
    if intermediate:
        keys["intermediate-key.pem"] = intermediate_key_uri
    certs = ["root.pem", "leaf.pem", "chain.pem"] + (["intermediate.pem"] if intermediate else [])
    names = certs + [k for k, uri in keys.items() if uri is None]
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    existing = sorted(n for n in names if (out_dir / n).exists())
    if existing:
        raise ConfigError(f"refusing to overwrite {', '.join(existing)} in {out_dir}")
    try:
        _write_chain(
            out_dir,
            keys,
            intermediate,
            organization,
            common_name,
            algorithm=algorithm,
            passphrase_env=passphrase_env,
            generate=generate,
            environ=environ,
        )
    except BaseException:
        for n in names:  # leave no half-made chain behind (nothing here existed before)
            (out_dir / n).unlink(missing_ok=True)
        raise
    return {n: out_dir / n for n in sorted(names)}


def _write_chain(
    out_dir: Path,
    keys: Mapping[str, str | None],
    intermediate: bool,
    organization: str,
    common_name: str,
    *,
    algorithm: str,
    passphrase_env: str | None,
    generate: bool,
    environ: Mapping[str, str],
) -> None:
    made = {
        k: _signer(uri, out_dir / k, algorithm, passphrase_env, generate, environ)
        for k, uri in keys.items()
    }
    root = certificate(
        made["root-key.pem"],
        name(f"{common_name} root", organization),
        kind="root",
        path_length=1 if intermediate else 0,
    )
    chain = [root]
    if intermediate:
        chain.insert(
            0,
            certificate(
                made["intermediate-key.pem"],
                name(f"{common_name} intermediate", organization),
                kind="intermediate",
                issuer=root,
                issuer_signer=made["root-key.pem"],
            ),
        )
    chain.insert(
        0,
        certificate(
            made["leaf-key.pem"],
            name(common_name, organization),
            kind="leaf",
            issuer=chain[0],
            issuer_signer=made["intermediate-key.pem" if intermediate else "root-key.pem"],
        ),
    )
    check_chain(chain, made["leaf-key.pem"].public_der)
    pem = serialization.Encoding.PEM
    write_new(out_dir / "root.pem", root.public_bytes(pem))
    if intermediate:
        write_new(out_dir / "intermediate.pem", chain[1].public_bytes(pem))
    write_new(out_dir / "leaf.pem", chain[0].public_bytes(pem))
    write_new(out_dir / "chain.pem", b"".join(c.public_bytes(pem) for c in chain))

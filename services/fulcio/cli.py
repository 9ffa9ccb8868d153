"""``sigstack ca create``: make a root and an intermediate CA for Fulcio, keys in files or in an HSM.

Files (default): ``root-key.pem`` and ``intermediate-key.pem`` (PKCS#8, mode 0600, encrypted with the
passphrase in the environment variable named by ``--passphrase-env``), ``root.pem``,
``intermediate.pem`` and ``chain.pem`` (intermediate then root: what ``--ca-chain`` wants).
HSM: ``--root-key-uri`` / ``--intermediate-key-uri`` name ``pkcs11:`` URIs; the key pairs are
generated on the token and only the certificates are written. Nothing existing is overwritten.

Profile (fulcio.md section 3.4): root = CN+O, KU keyCertSign|cRLSign critical, BasicConstraints
CA pathlen 1 critical, SKI, 10 years; intermediate = the same with pathlen 0, EKU codeSigning and
AKI, 5 years.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from sigstack.protocol import keys
from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import Signer, certificates, create_file_key, load_signer
from sigstack.services.keys.certificates import write_new
from sigstack.services.runtime.datadir import private_dir

from .ca import signing_hash

_CURVE_FOR = {"ecdsa-p256": "secp256r1", "ecdsa-p384": "secp384r1", "ecdsa-p521": "secp521r1"}


def ca_certificate(
    signer: Signer,
    subject: x509.Name,
    *,
    issuer: x509.Certificate | None = None,
    issuer_signer: Signer | None = None,
    years: int,
    path_length: int,
    code_signing: bool,
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """A CA certificate for ``signer``'s key; self-signed when ``issuer`` is ``None``."""
    start = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    b = (
        certificates.builder(signer, subject, issuer, start, years)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(signer.public_key),
            critical=False,
        )
    )
    parent = issuer_signer or signer
    parent_key = issuer.public_key() if issuer is not None else signer.public_key
    if not isinstance(parent_key, keys.PublicKey):  # a Signer's key always is
        raise ConfigError(f"the issuer's key is {keys.key_type(parent_key)}, which signs no CA")
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(parent_key),
        critical=False,
    )
    if code_signing:
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
        )
    return b.sign(parent.private_key, signing_hash(parent.public_key))


def create_ca(
    out_dir: Path,
    *,
    algorithm: str = "ecdsa-p384",
    organization: str = "sigstack",
    common_name: str = "sigstack",
    passphrase_env: str | None = None,
    root_key_uri: str | None = None,
    intermediate_key_uri: str | None = None,
    environ: Any = None,
) -> dict[str, Path]:
    """Create root + intermediate (see module docstring); returns the paths written."""
    environ = os.environ if environ is None else environ
    private_dir(out_dir)  # it holds the CA's private keys
    names = ["root.pem", "intermediate.pem", "chain.pem"]
    if not (root_key_uri or intermediate_key_uri):
        names += ["root-key.pem", "intermediate-key.pem"]
    existing = [n for n in names if (out_dir / n).exists()]
    if existing:
        raise ConfigError(f"refusing to overwrite {', '.join(existing)} in {out_dir}")
    if bool(root_key_uri) != bool(intermediate_key_uri):
        raise ConfigError("give both --root-key-uri and --intermediate-key-uri, or neither")
    if root_key_uri and intermediate_key_uri:
        from sigstack.services.keys import pkcs11

        curve = _CURVE_FOR.get(algorithm)
        if curve is None:
            raise ConfigError("HSM keys must be ECDSA (ecdsa-p256, ecdsa-p384, ecdsa-p521)")
        root = pkcs11.generate(root_key_uri, curve, environ)
        inter = pkcs11.generate(intermediate_key_uri, curve, environ)
    else:
        passphrase = None
        if passphrase_env:
            if passphrase_env not in environ:
                raise ConfigError(f"passphrase variable {passphrase_env} is not set")
            passphrase = environ[passphrase_env].encode()
        suffix = f"?passphrase-env={passphrase_env}" if passphrase_env else ""
        for name in ("root-key.pem", "intermediate-key.pem"):
            create_file_key(out_dir / name, algorithm, passphrase)
        root = load_signer(f"file:{out_dir / 'root-key.pem'}{suffix}", environ)
        inter = load_signer(f"file:{out_dir / 'intermediate-key.pem'}{suffix}", environ)
    root_cert = ca_certificate(
        root,
        certificates.name(common_name, organization),
        years=10,
        path_length=1,
        code_signing=False,
    )
    inter_cert = ca_certificate(
        inter, certificates.name(f"{common_name}-intermediate", organization), issuer=root_cert,
        issuer_signer=root, years=5, path_length=0, code_signing=True,
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    write_new(out_dir / "root.pem", root_cert.public_bytes(pem))
    write_new(out_dir / "intermediate.pem", inter_cert.public_bytes(pem))
    write_new(out_dir / "chain.pem", inter_cert.public_bytes(pem) + root_cert.public_bytes(pem))
    return {n: out_dir / n for n in names}


def ca_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sigstack ca", description="Fulcio CA administration")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("create", help="create a root and an intermediate CA certificate")
    p.add_argument("--out-dir", required=True, type=Path, help="where certificates (and keys) go")
    p.add_argument("--algorithm", default="ecdsa-p384",
                   help="ecdsa-p256, ecdsa-p384 (default), ecdsa-p521, rsa-3072, rsa-4096")  # fmt: skip
    p.add_argument("--organization", default="sigstack")
    p.add_argument("--common-name", default="sigstack")
    p.add_argument(
        "--passphrase-env", help="encrypt file keys with the passphrase in this variable"
    )
    p.add_argument("--root-key-uri", help="pkcs11: URI for the root key (generated on the token)")
    p.add_argument("--intermediate-key-uri", help="pkcs11: URI for the intermediate key")
    args = parser.parse_args(argv)
    if args.algorithm in ("ecdsa-p521",) and not args.root_key_uri:
        raise ConfigError("file keys support ecdsa-p256, ecdsa-p384 and rsa-*; P-521 needs an HSM")
    paths = create_ca(
        args.out_dir, algorithm=args.algorithm, organization=args.organization,
        common_name=args.common_name, passphrase_env=args.passphrase_env,
        root_key_uri=args.root_key_uri, intermediate_key_uri=args.intermediate_key_uri,
    )  # fmt: skip
    for name, path in paths.items():
        print(f"wrote {name}: {path}")
    if not args.root_key_uri and not args.passphrase_env:
        print("warning: the keys are NOT encrypted; use --passphrase-env VAR (or an HSM) for a "
              "production CA", file=sys.stderr)  # fmt: skip
    key = args.intermediate_key_uri or f"file:{paths['intermediate-key.pem']}" + (
        f"?passphrase-env={args.passphrase_env}" if args.passphrase_env else ""
    )
    print(f"serve with: --ca-key '{key}' --ca-chain {paths['chain.pem']}")
    return 0

"""sigstack's client library: keyless signing and offline verification of Sigstore bundles.

What a user of the library imports is here (``__all__``); docs/client.md ("Library") shows it at
work. Everything else under ``sigstack.client`` is internal and may change: the sub-packages
``verify`` (the checks), ``sign`` (Fulcio, Rekor and TSA clients, sign-in flows), ``oci``
(container images; its own ``__all__``), ``commands`` (the CLI). The models and the errors are
``sigstack.protocol``'s, re-exported so that one import is enough.

- verify: ``Verifier(trusted_root).verify_artifact(bundle, Artifact.from_file(path), policy)``
  returns a ``VerificationResult`` or raises ``VerificationError``; ``verify_dsse`` for
  attestations without the artifact, ``verify_with_key`` for managed-key bundles.
- sign: ``Signer(signing_config, trusted_root, IdentityToken.parse(jwt)).sign_digest(sha256)``
  (or ``sign_dsse(payload)``) returns a ``Bundle``; ``get_token`` finds a token the way the CLI
  does (environment, CI, interactive sign-in).
- trust: ``TrustedRoot.from_file``, ``SigningConfig.from_file``, ``ClientTrustConfig.from_file``;
  ``trusted_root(TrustOptions(...))`` / ``signing_config(...)`` resolve them as the CLI does
  (files, ``SIGSTORE_*`` variables, the TUF cache of ``sigstack initialize``).

Names load on first use, so importing this package costs nothing the CLI would not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigstack.client.lazy import lazy_names

if TYPE_CHECKING:
    from sigstack.client.sign.oidc import IdentityToken, get_token
    from sigstack.client.sign.signer import Signer
    from sigstack.client.trust import TrustOptions, signing_config, trusted_root
    from sigstack.client.verify.certs import IdentityPolicy
    from sigstack.client.verify.intoto import Statement, make_statement
    from sigstack.client.verify.verifier import Artifact, VerificationResult, Verifier
    from sigstack.protocol.bundle import Bundle
    from sigstack.protocol.errors import Error, ValidationError, VerificationError
    from sigstack.protocol.trust import ClientTrustConfig, SigningConfig, TrustedRoot

_WHERE = {
    # verifying
    "Verifier": "sigstack.client.verify.verifier",
    "Artifact": "sigstack.client.verify.verifier",
    "VerificationResult": "sigstack.client.verify.verifier",
    "IdentityPolicy": "sigstack.client.verify.certs",
    "Statement": "sigstack.client.verify.intoto",
    # signing
    "Signer": "sigstack.client.sign.signer",
    "IdentityToken": "sigstack.client.sign.oidc",
    "get_token": "sigstack.client.sign.oidc",
    "make_statement": "sigstack.client.verify.intoto",
    # trust
    "TrustOptions": "sigstack.client.trust",
    "trusted_root": "sigstack.client.trust",
    "signing_config": "sigstack.client.trust",
    # the models and errors (sigstack.protocol)
    "Bundle": "sigstack.protocol.bundle",
    "TrustedRoot": "sigstack.protocol.trust",
    "SigningConfig": "sigstack.protocol.trust",
    "ClientTrustConfig": "sigstack.protocol.trust",
    "Error": "sigstack.protocol.errors",
    "ValidationError": "sigstack.protocol.errors",
    "VerificationError": "sigstack.protocol.errors",
}

__all__ = [
    "Artifact",
    "Bundle",
    "ClientTrustConfig",
    "Error",
    "IdentityPolicy",
    "IdentityToken",
    "Signer",
    "SigningConfig",
    "Statement",
    "TrustOptions",
    "TrustedRoot",
    "ValidationError",
    "VerificationError",
    "VerificationResult",
    "Verifier",
    "get_token",
    "make_statement",
    "signing_config",
    "trusted_root",
]


__getattr__, __dir__ = lazy_names(globals(), _WHERE)

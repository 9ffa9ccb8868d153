"""Bundle verification library: ``Verifier``, ``Artifact``, ``IdentityPolicy``,
``VerificationResult`` (also exported by ``sigstack.client``).

Split by concept: ``keys`` (trusted-root keys, keyrings), ``certs`` (chain, SCT, identity),
``timestamps`` (RFC 3161), ``tlog`` (inclusion proof, checkpoint, SET, body consistency),
``intoto`` (statements), ``verifier`` (the order of checks). Those modules are internal; their
public names serve the other modules of the package.
"""

from .certs import IdentityPolicy
from .verifier import Artifact, VerificationResult, Verifier

__all__ = ["Artifact", "IdentityPolicy", "VerificationResult", "Verifier"]

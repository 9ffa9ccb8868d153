"""Bundle verification library: ``Verifier``, ``Artifact``, ``IdentityPolicy``.

Split by concept: ``keys`` (trusted-root keys, keyrings), ``certs`` (chain, SCT, identity),
``timestamps`` (RFC 3161), ``tlog`` (inclusion proof, checkpoint, SET, body consistency),
``intoto`` (statements), ``verifier`` (the order of checks).
"""

from .certs import IdentityPolicy
from .verifier import Artifact, Result, Verifier

__all__ = ["Artifact", "IdentityPolicy", "Result", "Verifier"]

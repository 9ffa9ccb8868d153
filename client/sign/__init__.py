"""Keyless signing library: ``Signer`` (ephemeral key -> certificate -> signature -> log entry ->
bundle) and ``IdentityToken`` / ``get_token`` (also exported by ``sigstack.client``).

``oidc`` (identity tokens and sign-in flows), ``services`` (Fulcio, Rekor, TSA clients) and
``signer`` are internal modules; their public names serve the other modules of the package.
"""

from .oidc import IdentityToken, get_token
from .signer import Signer

__all__ = ["IdentityToken", "Signer", "get_token"]

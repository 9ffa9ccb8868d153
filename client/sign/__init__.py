"""Keyless signing library: ``oidc`` (identity tokens and sign-in flows), ``services`` (Fulcio,
Rekor, TSA clients), ``signer`` (ephemeral key → certificate → signature → log entry → bundle)."""

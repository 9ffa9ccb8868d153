"""OIDC issuer (authlib on Flask): discovery, JWKS, code flow + PKCE, device flow, service accounts.

See docs/oidc.md for the operator guide and spec/oidc.md (shared reference) for the client facts.
"""

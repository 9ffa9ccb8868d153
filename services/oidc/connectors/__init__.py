"""Connectors: sign-in through the organisation's identity provider (issue 16; docs/oidc.md,
"Connectors"). ``base`` says what a connector is, ``ldap`` and ``oidc`` are the two kinds,
``registry`` builds the configured ones; the issuer's side of a sign-in is in login.py, device.py,
signin.py and federation.py."""

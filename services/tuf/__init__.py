"""TUF repository distributing the trust root (``trusted_root.json``, ``signing_config.v0.2.json``).

``trustroot`` and ``signingconfig`` build the Sigstore trust documents (pure), ``repo`` manages
the python-tuf metadata (offline root/targets with thresholds, online snapshot/timestamp),
``store`` holds the on-disk layout, ``serve`` is the HTTP mirror, ``cli`` the operator commands.
Operator guide: docs/tuf.md.
"""

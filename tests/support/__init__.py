"""What tests and benchmarks share, one module a concept:

- ``testdata``: where the repository and tests/data are (``ROOT``, ``TESTDATA``, ``VECTORS``);
- ``servers``: free ports, waiting for an answer, apps and handlers served in a thread,
  ``sigstack serve NAME`` as a process (``Service``, ``kill_under_load``) and the CLI as one
  (``sigstack_cli``); ``signing_services``: CT log, Rekor and Fulcio started that way around a
  new CA, and the trust config to use them;
- ``keys``: throw-away keys, CSRs, certificates, a TLS CA, PEM/DER/base64;
- ``entries``: signed Rekor v1 and v2 entries; ``checks``: what a log answered, verified by
  sigstore-python and by our own verifier;
- ``oidc``: a throw-away OIDC provider and the OAuth client bits; ``fulcio``: Fulcio requests,
  checks of what it issues, and a CT log for it;
- ``upstream``: an upstream OIDC provider for the connector tests' refusals; ``connectors``: the
  client and browser steps of a sign-in over HTTP; ``ldap``: a private slapd with its own users,
  groups and TLS certificate;
- ``spellings``: the snake_case spelling of a proto3 JSON document;
- ``tuf``: a small valid TUF repository (python-tuf) for the client's TUF code;
- ``clock``: a clock moved by hand; ``dbs``: a fresh PostgreSQL database;
  ``browser``: headless Chromium.

Fakes and builders used by one test area only stay in that area's folder.
"""

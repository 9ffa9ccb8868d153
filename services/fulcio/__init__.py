"""Fulcio-compatible certificate authority: OIDC token -> 10-minute code-signing certificate with an
embedded SCT from our CT log (services.ctlog, reached over HTTP only).

Modules: ``config`` (issuers file), ``templates`` (ci-provider claim templates), ``tokens`` (token
verification), ``issuers`` (an issuer's discovery and JWKS, cached for a bounded time), ``fetch``
(their bounded HTTP fetch; JSON through ``protocol.strictjson``), ``identity``
(principals), ``pop`` (proof of possession, CSRs, allow-list), ``ca``
(chain checks, leaf profile), ``ctclient`` (RFC 6962 client), ``service`` (issuance, HTTP-free),
``api`` (Flask routes), ``serve`` (``sigstack serve fulcio``), ``cli`` (``sigstack ca create``).
"""

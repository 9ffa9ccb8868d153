"""RFC 3161 timestamp authority with the HTTP API of sigstore/timestamp-authority (docs/tsa.md)."""

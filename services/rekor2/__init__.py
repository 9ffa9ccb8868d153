"""Rekor v2: a sigstore/rekor-tiles compatible transparency log (write API, tlog-tiles, search)."""

"""Rekor-compatible transparency log: entry types, the v1 JSON API and the tlog-tiles read API."""

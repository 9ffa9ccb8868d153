"""sigstack's client: a library first (signing, verification, trust bootstrap), with a thin CLI."""

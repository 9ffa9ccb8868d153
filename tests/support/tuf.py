"""A small valid TUF repository made with python-tuf's Metadata API, for the client's TUF code:
one Ed25519 key for the four top-level roles, every file version 1, expiring in ten years.

The sigstack repository service (services/tuf) is tested with its own ``Repository``; the real
staging repository copy lives in tests/data.
"""

from __future__ import annotations

import datetime as dt

ROLES = ("root", "timestamp", "snapshot", "targets")


def small_repository(targets: dict[str, bytes]) -> dict[str, bytes]:
    """The signed metadata of a repository serving ``targets``, by role name."""
    from securesystemslib.signer import CryptoSigner
    from tuf.api.metadata import (
        Metadata,
        MetaFile,
        Root,
        Snapshot,
        TargetFile,
        Targets,
        Timestamp,
    )
    from tuf.api.serialization.json import JSONSerializer

    signer = CryptoSigner.generate_ed25519()
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
    root = Metadata(Root(expires=expires, consistent_snapshot=False))
    for role in ROLES:
        root.signed.add_key(signer.public_key, role)
    tgt = Metadata(Targets(expires=expires))
    for name, data in targets.items():
        tgt.signed.targets[name] = TargetFile.from_data(name, data, ["sha256"])
    snap = Metadata(Snapshot(expires=expires))
    snap.signed.meta["targets.json"] = MetaFile(version=1)
    ts = Metadata(Timestamp(expires=expires))
    ts.signed.snapshot_meta = MetaFile(version=1)
    files = {}
    for md, role in ((root, "root"), (tgt, "targets"), (snap, "snapshot"), (ts, "timestamp")):
        md.sign(signer)
        files[role] = md.to_bytes(JSONSerializer())
    return files

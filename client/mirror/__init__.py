"""An offline mirror of transparency logs and a TUF repository, for air-gapped sites
(docs/mirror.md; spec witness-monitor section 6, C2SP tlog-mirror and tlog-tiles).

``sigstack mirror pull`` copies the tlog-tiles resources of Rekor v2 logs (or of Rekor v1's
tiles API) and a TUF repository's published files into a directory, verifying every checkpoint
with the log's key from the trusted root and proving it consistent with what the directory held;
``export``/``import`` carry only what is new across the gap, proven again on the far side; the
directory is served read-only by any static web server or ``sigstack serve mirror``.

Modules: ``tiles`` (tlog-tiles arithmetic) is pure; ``sources`` (HTTP or a directory),
``layout`` (generations swapped atomically, the manifest), ``logs`` (one log, verified),
``tufrepo`` (the TUF part, through python-tuf's updater), ``mirror`` (an update, all or nothing),
``bundle`` (export and import), ``status`` and ``cli`` build on them. It reads, and imports
``protocol`` only of ours.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"export": "bundle", "import_bundle": "bundle", "Manifest": "layout",
          "MirrorDir": "layout", "ForkError": "logs", "pull": "mirror", "describe": "status"}  # fmt: skip
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (``sigstack mirror --help`` pays for none)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

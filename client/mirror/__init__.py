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
``protocol`` only of ours (and ``client.lazy`` for the public names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigstack.client.lazy import lazy_names

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports each on first use
    from sigstack.client.mirror.bundle import export, import_bundle
    from sigstack.client.mirror.layout import Manifest, MirrorDir
    from sigstack.client.mirror.logs import ForkError
    from sigstack.client.mirror.mirror import pull
    from sigstack.client.mirror.status import describe

_WHERE = {
    "ForkError": "sigstack.client.mirror.logs",
    "Manifest": "sigstack.client.mirror.layout",
    "MirrorDir": "sigstack.client.mirror.layout",
    "describe": "sigstack.client.mirror.status",
    "export": "sigstack.client.mirror.bundle",
    "import_bundle": "sigstack.client.mirror.bundle",
    "pull": "sigstack.client.mirror.mirror",
}
__all__ = ["ForkError", "Manifest", "MirrorDir", "describe", "export", "import_bundle", "pull"]


__getattr__, __dir__ = lazy_names(globals(), _WHERE)

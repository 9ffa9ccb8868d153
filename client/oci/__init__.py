"""Container images: signatures and attestations stored in OCI registries the way cosign stores
them (legacy ``.sig`` / ``.att`` tags and v0.3 bundles as OCI 1.1 referrers).

``reference`` (image names), ``auth`` (docker config credentials, challenges), ``registry`` (the
distribution API), ``formats`` (cosign's documents), ``sign`` / ``verify`` / ``legacy`` (the
logic). Commands live in ``client.commands.oci``. Imports only ``client``, ``protocol`` and the
standard library / cryptography.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sigstack.client.lazy import lazy_names

if TYPE_CHECKING:  # what type checkers see; at run time __getattr__ imports each on first use
    from sigstack.client.oci.reference import Reference
    from sigstack.client.oci.registry import Registry
    from sigstack.client.oci.sign import ImageSigner
    from sigstack.client.oci.verify import ImageVerifier

_WHERE = {
    "ImageSigner": "sigstack.client.oci.sign",
    "ImageVerifier": "sigstack.client.oci.verify",
    "Reference": "sigstack.client.oci.reference",
    "Registry": "sigstack.client.oci.registry",
}
__all__ = ["ImageSigner", "ImageVerifier", "Reference", "Registry"]


__getattr__, __dir__ = lazy_names(globals(), _WHERE)

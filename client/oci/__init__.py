"""Container images: signatures and attestations stored in OCI registries the way cosign stores
them (legacy ``.sig`` / ``.att`` tags and v0.3 bundles as OCI 1.1 referrers).

``reference`` (image names), ``auth`` (docker config credentials, challenges), ``registry`` (the
distribution API), ``formats`` (cosign's documents), ``sign`` / ``verify`` / ``legacy`` (the
logic). Commands live in ``client.commands.oci``. Imports only ``client``, ``protocol`` and the
standard library / cryptography.
"""

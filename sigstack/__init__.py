"""sigstack: a self-hosted Sigstore stack. The import name of the repository's top-level folders
(``sigstack.protocol``, ``sigstack.client``, ``sigstack.services``, ``sigstack.migrations`` are links
to ``protocol/``, ``client/``, ``services/``, ``migrations/``), so that installing sigstack never
puts a ``client`` or ``protocol`` of its own next to other distributions' (docs/adr/0007)."""

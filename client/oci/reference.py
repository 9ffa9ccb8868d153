"""Image references: ``[registry/]repository[:tag][@sha256:<hex>]``, parsed the way docker and
go-containerregistry read them (distribution's reference grammar, simplified).

The first path component is a registry when it contains ``.`` or ``:`` or is ``localhost``;
otherwise the registry is Docker Hub (``index.docker.io``, API host ``registry-1.docker.io``) and
one-component names get the ``library/`` prefix. What this module leaves to others: talking to the
registry (``client.oci.registry``).
"""

from __future__ import annotations

import re

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.record import record

DOCKER_HUB = "index.docker.io"
_HUB_ALIASES = ("docker.io", "index.docker.io", "registry-1.docker.io")
_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_HOST = re.compile(r"(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::[0-9]+)?")
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


@record(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        rest, digest = text, None
        if "@" in rest:
            rest, _, digest = rest.partition("@")
            if not _DIGEST.fullmatch(digest):
                raise ValidationError(
                    f"{text!r}: the digest must be sha256:<64 lowercase hex digits>"
                )
        registry = DOCKER_HUB
        first, slash, remainder = rest.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            if not _HOST.fullmatch(first):
                raise ValidationError(f"{text!r}: {first!r} is not a registry host[:port]")
            registry, rest = first, remainder
        tag = None
        last_slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > last_slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
            if not _TAG.fullmatch(tag):
                raise ValidationError(f"{text!r}: {tag!r} is not a valid tag")
        if registry in _HUB_ALIASES:
            registry = DOCKER_HUB
            if "/" not in rest:
                rest = "library/" + rest
        if not rest or not all(_COMPONENT.fullmatch(c) for c in rest.split("/")):
            raise ValidationError(
                f"{text!r}: the repository name must be lowercase letters, digits and separators"
            )
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=registry, repository=rest, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """``registry/repository``: what a simple-signing payload calls the docker-reference."""
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        return "registry-1.docker.io" if self.registry == DOCKER_HUB else self.registry

    @property
    def is_loopback(self) -> bool:
        host = self.registry.rsplit(":", 1)[0] if not self.registry.endswith("]") else self.registry
        return host in _LOOPBACK

    @property
    def identifier(self) -> str:
        """The digest when known, else the tag: what goes after ``/manifests/``."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        if self.digest:
            return f"{self.name}@{self.digest}"
        return f"{self.name}:{self.tag}"

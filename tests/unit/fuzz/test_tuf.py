"""Fuzzing the TUF client's metadata handling (client.tuf): only ``protocol.errors.Error``
escapes.

Entry points, on a python-tuf repository built here (ed25519, the two Sigstore targets):
- online: ``initialize`` (python-tuf's ngclient refresh, then the targets) with the mutant served
  by an in-memory fetcher as the next root (``2.root.json``), the timestamp, snapshot or targets
  metadata, or a target file; and with a mutated bootstrap root;
- offline: ``cached_target(..., offline)``, which checks the cache itself (``_verify_cached``:
  root -> timestamp -> snapshot -> targets, then the target's length and hashes), with one cached
  file replaced by the mutant.
Seeds: the repository's own metadata, plus the real staging TUF metadata and roots of tests/data.
"""

from __future__ import annotations

import functools
import tempfile
import types
from collections.abc import Callable, Iterator
from pathlib import Path

from sigstack.client import tuf as client_tuf
from tests.support.testdata import TESTDATA
from tests.support.tuf import ROLES, small_repository

from .core import Target, property_tests

MIRROR = "https://tuf.fuzz.test"


class Repo:
    """The files of a small valid repository, and a cache initialised from it."""

    def __init__(self) -> None:
        from tests.unit.client.kit import Kit

        self.targets = {
            "trusted_root.json": Kit().trusted_root().to_json().encode(),
            "signing_config.v0.2.json": (TESTDATA / "pyassets/trust/staging"
                                         / "signing_config.v0.2.json").read_bytes(),
        }  # fmt: skip
        self.files = small_repository(self.targets)
        self._tmp = tempfile.TemporaryDirectory(prefix="sigstack-fuzz-tuf-")
        self.env = {"TUF_ROOT": self._tmp.name}
        client_tuf.initialize(MIRROR, self.files["root"], self.env, fetcher=self.fetcher({}))
        self.cache = client_tuf._mirror_dir(Path(self._tmp.name), MIRROR)

    def fetcher(self, replaced: dict[str, bytes]) -> object:
        from tuf.api.exceptions import DownloadHTTPError
        from tuf.ngclient import FetcherInterface

        served = {f"{r}.json": d for r, d in self.files.items()}
        served["1.root.json"] = self.files["root"]
        served.update({f"targets/{n}": d for n, d in self.targets.items()})
        served.update(replaced)

        class Memory(FetcherInterface):
            def _fetch(self, url: str) -> Iterator[bytes]:
                path = url.removeprefix(MIRROR + "/")
                if path not in served:
                    raise DownloadHTTPError(f"{url} not found", 404)
                return iter([served[path]])

        return Memory()


@functools.cache
def repo() -> Repo:
    return Repo()


def _real(role: str) -> list[bytes]:
    staging = TESTDATA / "pyassets/test-assets/staging-tuf"
    found = {"root": [TESTDATA / "pyassets/trust/staging/root.json"],
             "timestamp": [staging / "timestamp.json"], "snapshot": [staging / "16.snapshot.json"],
             "targets": [staging / "17.targets.json"]}[role]  # fmt: skip
    return [p.read_bytes() for p in found]


def seeds_for(role: str) -> Callable[[], list[bytes]]:
    def seeds() -> list[bytes]:
        if role == "trusted_root.json":
            return [repo().targets[role]]
        return [repo().files[role], *_real(role)]

    return seeds


def _online(role: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        r = repo()
        path = f"targets/{role}" if role.endswith(".json") else f"{role}.json"
        replaced = {"2.root.json": data} if role == "root" else {path: data}  # root: a rotation
        with tempfile.TemporaryDirectory() as folder:
            client_tuf.initialize(MIRROR, r.files["root"], {"TUF_ROOT": folder},
                                  fetcher=r.fetcher(replaced))  # fmt: skip

    return run


def _bootstrap(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        client_tuf.initialize(MIRROR, data, {"TUF_ROOT": folder}, fetcher=repo().fetcher({}))


def _offline(role: str) -> Callable[[bytes], None]:
    def run(data: bytes) -> None:
        r = repo()
        path = r.cache / ("targets" if role.endswith(".json") else "metadata") / (
            role if role.endswith(".json") else f"{role}.json")  # fmt: skip
        original = path.read_bytes()
        path.write_bytes(data)
        try:
            opts = types.SimpleNamespace(offline=True, staging=False)
            client_tuf.cached_target("trusted_root.json", opts, r.env)
        finally:
            path.write_bytes(original)

    return run


TARGETS = [
    *(Target(f"online: {role}", _online(role), seeds_for(role)) for role in ROLES),
    Target(
        "online: trusted_root.json", _online("trusted_root.json"), seeds_for("trusted_root.json")
    ),
    Target("online: bootstrap root", _bootstrap, seeds_for("root")),
    *(Target(f"offline: {role}", _offline(role), seeds_for(role)) for role in ROLES),
    Target(
        "offline: trusted_root.json", _offline("trusted_root.json"), seeds_for("trusted_root.json")
    ),  # fmt: skip
]

test_arbitrary_bytes, test_mutated_seeds = property_tests(TARGETS, arbitrary=40, mutated=150)

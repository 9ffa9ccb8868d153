"""The dependency rules of docs/ARCHITECTURE.md, checked on the source (imports parsed with ast).

- every import of our code goes through the ``sigstack`` name (``sigstack.protocol``, ...): the bare
  folder names are importable from a checkout too, and a module imported under both names would
  exist twice (two error trees, two registries).
- protocol/ is pure: stdlib, cryptography, rfc8785 and protocol itself.
- client/ depends on protocol only (never services, never migrations).
- a service package talks to other services over HTTP only: it may import services.runtime,
  services.keys and protocol; rekor, rekor2 and ctlog may also import services.tlog; rekor2 also
  shares the v1 log's key and certificate checks (services.rekor.verifiers), its CA-only switch
  (services.rekor.trustedca) and its search-index table (services.rekor.store), and nothing else
  of it. The log engine (tlog) asks witnesses to cosign its checkpoints with the witness's HTTP
  client (services.witness.client), over HTTP, and imports nothing else of the witness.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.support.testdata import ROOT

STDLIB = set(sys.stdlib_module_names)
SHARED_SERVICES = {"runtime", "keys"}
LOG_PERSONALITIES = {"rekor", "rekor2", "ctlog"}
SHARED_MODULES = {
    "rekor2": {"services.rekor.verifiers", "services.rekor.store", "services.rekor.trustedca"},
    "tlog": {"services.witness.client"},
}
OURS = {"protocol", "client", "services", "migrations"}
ORCHESTRATORS = {"cli.py", "stack.py", "__init__.py"}  # modules that start services, by design


def _absolute_imports(path: Path) -> set[str]:
    """Names imported without a leading dot, as written."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, our own named by folder (``sigstack.`` taken off)."""
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            base = ".".join(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
            found.add(f"{base}.{node.module}" if node.module else base)
    return {name.removeprefix("sigstack.") for name in found}


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize(
    "path", [p for d in ("protocol", "client", "services", "migrations", "tests", "bench")
             for p in _files(d) if "tests/data" not in str(p)], ids=str,
)  # fmt: skip
def test_our_code_is_imported_through_the_sigstack_name(path: Path) -> None:
    bare = sorted(n for n in _absolute_imports(path) if n.split(".")[0] in OURS)
    assert not bare, f"{path.relative_to(ROOT)} imports {bare}: write sigstack.{bare[0]}"


@pytest.mark.parametrize("path", _files("protocol"), ids=str)
def test_protocol_is_pure(path: Path) -> None:
    for name in _imports(path):
        top = name.split(".")[0]
        assert top in STDLIB | {"cryptography", "rfc8785", "protocol", "__future__"}, (
            f"{path.relative_to(ROOT)} imports {name}"
        )


@pytest.mark.parametrize("path", _files("client"), ids=str)
def test_client_depends_on_protocol_only(path: Path) -> None:
    for name in _imports(path):
        assert name.split(".")[0] not in {"services", "migrations"}, (
            f"{path.relative_to(ROOT)} imports {name}"
        )


@pytest.mark.parametrize("path", _files("services"), ids=str)
def test_services_talk_over_http(path: Path) -> None:
    parts = path.relative_to(ROOT / "services").parts
    if len(parts) == 1:  # services/cli.py, services/stack.py: they start services
        return
    own = parts[0]
    allowed = SHARED_SERVICES | {own}
    if own in LOG_PERSONALITIES:
        allowed.add("tlog")
    if own == "runtime":  # the table registry names every store module, by string only
        allowed.add("tlog")
    for name in _imports(path):
        bits = name.split(".")
        if bits[0] == "services" and len(bits) > 1 and name not in SHARED_MODULES.get(own, ()):
            assert bits[1] in allowed, f"{path.relative_to(ROOT)} imports {name}"

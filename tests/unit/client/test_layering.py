"""The dependency rule for the client: ``client`` imports ``protocol`` and third-party libraries,
never ``services``; ``protocol/bundle.py``, ``trust.py``, ``protojson.py`` and ``record.py`` stay
pure (stdlib, cryptography, rfc8785 and each other)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.testdata import ROOT

PURE = {"bundle.py", "trust.py", "protojson.py", "record.py"}
ALLOWED_IN_PROTOCOL = {"cryptography", "rfc8785", "__future__"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_client_never_imports_services() -> None:
    offenders = [
        (str(p.relative_to(ROOT)), name)
        for p in (ROOT / "client").rglob("*.py")
        if p.name != "cli.py"  # the front door routes server commands by name, lazily
        for name in _imports(p)
        if name == "services" or name.startswith("services.")
    ]
    assert offenders == []


def test_protocol_models_are_pure() -> None:
    stdlib = set(sys.stdlib_module_names)
    for name in PURE:
        for module in _imports(ROOT / "protocol" / name):
            top = module.split(".")[0]
            assert top in stdlib or top in ALLOWED_IN_PROTOCOL or top == "protocol", (name, module)

"""Dependency rules for the modules of issue 3: protocol is pure, Fulcio reaches the CT log only
over HTTP, the CT log knows nothing of Fulcio."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def _ours(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in ("protocol", "services", "client", "tests")}


def test_protocol_modules_are_pure() -> None:
    for name in ("x509ext.py", "sct.py"):
        assert all(n.startswith("protocol") for n in _ours(_imports(ROOT / "protocol" / name)))


def test_fulcio_and_ctlog_do_not_import_each_other() -> None:
    for path in (ROOT / "services" / "fulcio").glob("*.py"):
        bad = {
            n
            for n in _ours(_imports(path))
            if n.startswith(("services.ctlog", "services.tlog", "services.rekor", "client"))
        }
        assert not bad, (path.name, bad)
    for path in (ROOT / "services" / "ctlog").glob("*.py"):
        bad = {n for n in _ours(_imports(path)) if n.startswith(("services.fulcio", "client"))}
        assert not bad, (path.name, bad)

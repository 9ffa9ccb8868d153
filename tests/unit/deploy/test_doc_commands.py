"""Every sigstack command shown in the operator docs parses with the real parsers."""

from __future__ import annotations

import re

import pytest

from tests.unit.deploy.compose_read import (
    ROOT,
    parse_sigstack,
)

OPERATOR_DOCS = [
    "deployment.md",
    "configuration.md",
    "install.md",
    "airgapped.md",
    "key-ceremony.md",
    "rotating-keys.md",
    "backup.md",
    "staging-mirror.md",
]
_ADMIN = "docker compose run --rm admin "
_COMMAND_LINE = re.compile(r"^(?:[A-Z_]+=\S*\s+)*(?:\S*/)?sigstack\s")


def doc_commands(text: str) -> list[list[str]]:
    """``sigstack ...`` command lines in fenced code blocks (continuations joined, comments and
    ``VAR=value`` prefixes dropped); lines with ``...`` or ``[...]`` placeholders are skipped."""
    import shlex

    commands, in_code, pending = [], False, ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            in_code, pending = not in_code, ""
            continue
        if not in_code:
            continue
        line = pending + line
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not _COMMAND_LINE.match(line) and not line.startswith(_ADMIN):
            continue
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words = words[1:]
        if words and words[0].endswith("/sigstack"):
            words[0] = "sigstack"
        if " ".join(words).startswith(_ADMIN.strip()):
            words = ["sigstack", *words[len(_ADMIN.split()) :]]
        if not words or words[0] != "sigstack" or "..." in line or "[" in line:
            continue
        commands.append(words[1:])
    return commands


@pytest.mark.parametrize("doc", OPERATOR_DOCS)
def test_commands_in_the_operator_docs_parse(doc: str) -> None:
    commands = doc_commands((ROOT / "docs" / doc).read_text())
    failures = []
    for argv in commands:
        result = parse_sigstack(argv)
        if isinstance(result, str):
            failures.append(f"sigstack {' '.join(argv)}: {result}")
    assert failures == []


def test_doc_commands_are_found() -> None:
    text = (
        "```\nX=1 sigstack db check --database-url U \\\n  # c\n```\n```\n"
        + _ADMIN
        + "tuf status\n```"
    )
    assert doc_commands(text) == [["db", "check", "--database-url", "U"], ["tuf", "status"]]
    assert len(doc_commands((ROOT / "docs" / "deployment.md").read_text())) >= 8

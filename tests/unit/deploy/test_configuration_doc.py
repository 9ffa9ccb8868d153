"""docs/configuration.md against the code: every flag table holds exactly the flags of the real
argparse parser (``sigstack serve X``, ``sigstack up``) with the defaults the code uses, and every
key table the keys and defaults of the service's typed configuration class (``RekorConfig``, ...:
``runtime.config.ServiceConfig.defaults``; issue 15, item 8: the tables said 2 workers x 16
threads for the logs, which run 1 x 32 on SQLite).

Defaults the parser leaves to ``None`` and the code works out later (the logs' worker layout, a
limit taken from the service's configuration) are listed in ``computed_defaults``, each worked
out from the code, not written down a second time."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest

from sigstack.services.runtime.config import ServiceConfig
from tests.support.testdata import ROOT

DOC = ROOT / "docs" / "configuration.md"
NONE = "–"


class _Captured(Exception):
    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser


def real_parser(entry: Callable[[list[str]], Any]) -> argparse.ArgumentParser:
    """The parser ``entry`` builds, caught as it is asked to parse (nothing runs after that)."""

    def capture(self: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> Any:
        raise _Captured(self)

    with mock.patch.object(argparse.ArgumentParser, "parse_args", capture):
        try:
            entry([])
        except _Captured as captured:
            return captured.parser
    raise AssertionError(f"{entry} never parsed its arguments")


def _entries() -> dict[str, Callable[[list[str]], Any]]:
    from sigstack.services import stack
    from sigstack.services.ctlog import serve as ctlog
    from sigstack.services.fulcio import serve as fulcio
    from sigstack.services.oidc import serve as oidc
    from sigstack.services.rekor import serve as rekor
    from sigstack.services.rekor2 import serve as rekor2
    from sigstack.services.tuf import serve as tuf

    return {"rekor": rekor.parse, "rekor2": rekor2.parse, "ctlog": ctlog.parse,
            "fulcio": fulcio.parse_args, "oidc": oidc.main, "tuf": tuf.parse,
            "up": stack.parse}  # fmt: skip


def computed_defaults() -> dict[tuple[str, str], str]:
    """(section, flag) → the default column the doc must show, worked out from the code."""
    from sigstack.services.runtime.server import log_workers

    REKOR, REKOR2, CTLOG, OIDC, TUF = (_service_defaults(s)
                                       for s in ("rekor", "rekor2", "ctlog", "oidc", "tuf"))  # fmt: skip

    sqlite, postgres = "sqlite:///x.db", "postgresql://h/db"
    workers = (f"`{log_workers(None, None, sqlite)['workers']}` on SQLite, "
               f"`{log_workers(None, None, postgres)['workers']}` on PostgreSQL")  # fmt: skip
    threads = (f"`{log_workers(1, None, sqlite)['threads']}` with one worker, "
               f"else `{log_workers(2, None, sqlite)['threads']}`")  # fmt: skip
    out = {}
    for log in ("rekor", "rekor2", "ctlog"):
        out[(log, "--workers")], out[(log, "--threads")] = workers, threads
    out[("rekor", "--max-body-bytes")] = f"`{REKOR['max_body_bytes']}`"
    out[("rekor2", "--max-body-bytes")] = f"`{REKOR2['max_body_bytes']}`"
    out[("rekor2", "--key-algorithm")] = f"`{REKOR2['key_algorithm']}` (`key_algorithm`)"
    out[("oidc", "--signing-alg")] = f"`{OIDC['signing_alg']}`"
    out[("tuf", "--data-dir")] = f"`{TUF['data_dir']}`"
    assert CTLOG["max_body_bytes"]  # keys tables are checked against DEFAULTS below
    return out


def _sections(text: str) -> dict[str, str]:
    """``## `sigstack serve rekor` `` → "rekor", ``## `sigstack up` `` → "up"; the rest by title."""
    out = {}
    for chunk in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = chunk.partition("\n")
        found = re.fullmatch(r"`sigstack (?:serve )?(\w+)`", title.strip())
        out[found.group(1) if found else title.strip()] = body
    return out


def _tables(body: str, first_header: str) -> list[list[list[str]]]:
    """The rows (cells stripped) of each table in ``body`` whose first header cell is given."""
    tables, rows, inside = [], [], False
    for line in [*body.splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not rows and not inside:
                inside = cells[0] == first_header
                rows = [] if inside else rows
                continue
            if inside and not set(cells[0]) <= {"-"}:
                rows.append(cells)
        elif inside:
            tables.append(rows)
            rows, inside = [], False
        else:
            rows = []
    return tables


def _flag_rows(body: str) -> dict[str, str]:
    tables = _tables(body, "flag")
    assert len(tables) == 1, "expected one flag table"
    return {re.match(r"`(--[\w-]+)", row[0]).group(1): row[1] for row in tables[0]}  # type: ignore[union-attr]


def _parser_flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {
        max(a.option_strings, key=len): a
        for a in parser._actions
        if a.option_strings and not isinstance(a, argparse._HelpAction)
    }


def _expected_default(section: str, flag: str, action: argparse.Action) -> str | None:
    """What the doc's default column must say, or None where free text is allowed."""
    computed = computed_defaults().get((section, flag))
    if computed is not None:
        return computed
    if action.required:
        return "required"
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if action.default is None:
        return None
    value = action.default
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


SECTIONS = ["rekor", "rekor2", "ctlog", "fulcio", "oidc", "tuf", "up"]


@pytest.mark.parametrize("section", SECTIONS)
def test_flag_tables_match_the_parsers(section: str) -> None:
    doc = _flag_rows(_sections(DOC.read_text())[section])
    flags = _parser_flags(real_parser(_entries()[section]))
    assert sorted(doc) == sorted(flags), "flags in the doc differ from the parser's"
    wrong = {}
    for flag, action in flags.items():
        expected, shown = _expected_default(section, flag, action), doc[flag]
        if expected is None:  # free text, but never a bare value the code does not have
            if re.fullmatch(r"`[\d.]+`", shown):
                wrong[flag] = (shown, "no default in the parser")
        elif not (shown == expected or (expected == "required" and shown.startswith(expected))):
            wrong[flag] = (shown, expected)
    assert wrong == {}, "(doc, code) per flag"


def _config_class(section: str) -> type[ServiceConfig]:
    from sigstack.services.ctlog.config import CTLogConfig
    from sigstack.services.fulcio.config import FulcioConfig
    from sigstack.services.oidc.config import OIDCConfig
    from sigstack.services.rekor.config import RekorConfig
    from sigstack.services.rekor2.config import Rekor2Config
    from sigstack.services.tsa.config import TSAConfig
    from sigstack.services.tuf.config import TUFConfig

    return {"rekor": RekorConfig, "rekor2": Rekor2Config, "ctlog": CTLogConfig,
            "fulcio": FulcioConfig, "oidc": OIDCConfig, "tuf": TUFConfig,
            "tsa": TSAConfig}[section]  # fmt: skip


def _service_defaults(section: str) -> dict[str, Any]:
    return _config_class(section).defaults()


@pytest.mark.parametrize("section", ["rekor", "rekor2", "ctlog", "fulcio", "tuf", "tsa"])
def test_key_tables_match_the_defaults(section: str) -> None:
    defaults = _service_defaults(section)
    (rows,) = _tables(_sections(DOC.read_text())[section], "key (file)")
    wrong = {}
    for row in rows:
        keys = re.findall(r"`(\w+)`", row[0])
        if row[1] == f"{NONE} (file only)":
            continue
        for key in keys:
            if key not in defaults:
                wrong[key] = "not a configuration key of the service"
                continue
            env = f"SIGSTACK_{section.upper()}_{key.upper()}"
            if not row[1].startswith(f"`{env}`"):
                wrong[key] = f"environment {row[1]} is not {env}"
            if len(row) < 3:  # no default column (tuf)
                continue
            shown = re.match(r"`([^`]*)`", row[2])
            value = defaults[key]
            if isinstance(value, bool):
                if shown is None or shown.group(1) != json.dumps(value):
                    wrong[key] = f"default {row[2]} is not {json.dumps(value)}"
            elif isinstance(value, int | str) and value != "":
                if shown is None or shown.group(1) != str(value):
                    wrong[key] = f"default {row[2]} is not {value}"
            elif value == "" and row[2] != '`""`':
                wrong[key] = f'default {row[2]} is not ""'
    assert wrong == {}


# Where a service's keys are described beyond its section of docs/configuration.md.
KEY_DOCS = {"oidc": ["docs/oidc.md"], "fulcio": ["docs/fulcio.md"]}


@pytest.mark.parametrize("section", ["rekor", "rekor2", "ctlog", "fulcio", "oidc", "tuf", "tsa"])
def test_every_configuration_key_is_documented(section: str) -> None:
    """The other way round: each key of the typed configuration is named in the service's
    section (or its own doc), so a key added to the code cannot stay undocumented. The keys of
    every service are the "Common" section's; ``create`` is internal (the first start's)."""
    texts = [_sections(DOC.read_text())[section]]
    texts += [(ROOT / doc).read_text() for doc in KEY_DOCS.get(section, [])]
    named = {key for text in texts for key in re.findall(r"`(\w+)`", text)}
    common = set(ServiceConfig.defaults()) | {"create"}
    assert sorted(set(_service_defaults(section)) - common - named) == []


def test_the_witness_key_table_matches_its_configuration() -> None:
    """The witness's keys are documented in docs/witness.md ("Running a witness": key, flag,
    default): a row for every key of ``WitnessConfig`` but the common ones, each row's key one of
    them with a flag of the real parser, and a number default the code's."""
    from sigstack.services.witness import serve
    from sigstack.services.witness.config import WitnessConfig

    text = (ROOT / "docs" / "witness.md").read_text()
    (rows,) = _tables(_sections(text)["Running a witness"], "key")
    doc = {row[0].strip("`"): row for row in rows if row[0] != "`http_*`"}
    defaults = WitnessConfig.defaults()
    common = set(ServiceConfig.defaults()) - {"max_body_bytes"}
    assert sorted(doc) == sorted(set(defaults) - common)
    flags = _parser_flags(real_parser(serve.parse))
    wrong = {}
    for key, (_key, flag, default, _meaning) in doc.items():
        named = re.match(r"`(--[\w-]+)`", flag)
        if named is None or named.group(1) not in flags:
            wrong[key] = f"flag {flag} is not the parser's"
        value = defaults[key]
        if isinstance(value, int) and not isinstance(value, bool) and default != str(value):
            wrong[key] = f"default {default} is not {value}"
    assert wrong == {}


def test_http_limits_table_matches_the_code() -> None:
    from sigstack.services.runtime.server import Limits

    (rows,) = _tables(_sections(DOC.read_text())["Common to every `sigstack serve`"], "key")
    doc = {row[0].strip("`"): row[1].strip("`") for row in rows}
    code = {f"http_{name}": str(getattr(Limits, name)).removesuffix(".0")
            for name in ("header_timeout", "body_timeout", "max_connections", "graceful_timeout")}  # fmt: skip
    assert doc == code


def test_the_tables_are_found() -> None:
    """The parsing above finds what it checks (a doc reshuffle must not make the tests vacuous)."""
    sections = _sections(DOC.read_text())
    assert set(SECTIONS) <= set(sections)
    assert len(_flag_rows(sections["rekor"])) >= 10
    assert len(_tables(sections["rekor"], "key (file)")[0]) >= 3

"""The subset of Go ``text/template`` that Fulcio's ci-provider claim templates use.

Supported actions: ``{{ .claim }}``, ``{{ index . "claim.with.dots" }}``, and
``{{if COND}}...{{else}}...{{end}}`` (nestable) where COND is ``eq ARG ARG`` or a single ARG
(true when non-empty); ARG is ``.claim``, ``index . "claim"`` or a double-quoted string. A missing
claim is an error (Go's ``missingkey=error``). A template without ``{{`` is a bare claim name.

``parse_template`` raises ``ConfigError`` (used at config load); ``render`` raises
``ValidationError`` with a message that names the missing claim (sent to the client, as Fulcio does).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from sigstack.protocol.errors import ConfigError, ValidationError

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)


@dataclass(frozen=True)
class _Arg:
    claim: str | None
    literal: str | None = None


@dataclass(frozen=True)
class _If:
    args: tuple[_Arg, ...]  # one arg (truthiness) or two (eq)
    then: tuple[object, ...]
    otherwise: tuple[object, ...]


def _arg(tokens: list[str]) -> tuple[_Arg, list[str]]:
    if not tokens:
        raise ConfigError("template action is missing an argument")
    head = tokens[0]
    if head == "index":
        if len(tokens) < 3 or tokens[1] != ".":
            raise ConfigError('template index must read `index . "claim"`')
        return _Arg(_unquote(tokens[2])), tokens[3:]
    if head.startswith(".") and len(head) > 1:
        return _Arg(head[1:]), tokens[1:]
    if head.startswith('"'):
        return _Arg(None, _unquote(head)), tokens[1:]
    raise ConfigError(f"unsupported template argument {head!r}")


def _tokens(action: str) -> list[str]:
    lexer = shlex.shlex(action, posix=False)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError as exc:
        raise ConfigError(f"unbalanced quotes in template action {action!r}") from exc


def _unquote(tok: str) -> str:
    if len(tok) < 2 or tok[0] != '"' or tok[-1] != '"':
        raise ConfigError(f"expected a double-quoted string, got {tok!r}")
    return tok[1:-1]


def _parse(
    parts: list[tuple[str, str]], pos: int, inside_if: bool
) -> tuple[list[object], int, str]:
    nodes: list[object] = []
    while pos < len(parts):
        kind, value = parts[pos]
        pos += 1
        if kind == "text":
            if value:
                nodes.append(value)
            continue
        tokens = _tokens(value)
        if not tokens:
            raise ConfigError("empty template action")
        if tokens[0] in ("else", "end"):
            if not inside_if:
                raise ConfigError(f"unexpected {{{{{tokens[0]}}}}} in template")
            return nodes, pos, tokens[0]
        if tokens[0] == "if":
            rest = tokens[1:]
            if rest and rest[0] == "eq":
                a, rest = _arg(rest[1:])
                b, rest = _arg(rest)
                args: tuple[_Arg, ...] = (a, b)
            else:
                a, rest = _arg(rest)
                args = (a,)
            if rest:
                raise ConfigError(f"unsupported template condition {value!r}")
            then, pos, stop = _parse(parts, pos, True)
            otherwise: list[object] = []
            if stop == "else":
                otherwise, pos, stop = _parse(parts, pos, True)
            if stop != "end":
                raise ConfigError("template {{if}} without {{end}}")
            nodes.append(_If(args, tuple(then), tuple(otherwise)))
            continue
        arg, rest = _arg(tokens)
        if rest:
            raise ConfigError(f"unsupported template action {value!r}")
        nodes.append(arg)
    return nodes, pos, ""


@lru_cache(maxsize=256)
def parse_template(text: str) -> tuple[object, ...]:
    """Parse ``text`` into a node tuple; a bare name becomes a single claim lookup."""
    if "{{" not in text:
        return (_Arg(text),)
    parts: list[tuple[str, str]] = []
    last = 0
    for m in _ACTION.finditer(text):
        parts.append(("text", text[last : m.start()]))
        parts.append(("action", m.group(1)))
        last = m.end()
    parts.append(("text", text[last:]))
    if "{{" in "".join(v for k, v in parts if k == "text"):
        raise ConfigError(f"unterminated template action in {text!r}")
    nodes, pos, stop = _parse(parts, 0, False)
    if stop or pos != len(parts):
        raise ConfigError(f"unbalanced template {text!r}")
    return tuple(nodes)


def _value(arg: _Arg, data: Mapping[str, str]) -> str:
    if arg.claim is None:
        assert arg.literal is not None
        return arg.literal
    if arg.claim not in data:
        raise ValidationError(f"template references a claim that is not in the token: {arg.claim}")
    return data[arg.claim]


def _render(nodes: tuple[object, ...], data: Mapping[str, str], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, _Arg):
            out.append(_value(node, data))
        elif isinstance(node, _If):
            values = [_value(a, data) for a in node.args]
            ok = values[0] == values[1] if len(values) == 2 else bool(values[0])
            _render(node.then if ok else node.otherwise, data, out)


def render(text: str, data: Mapping[str, str]) -> str:
    """Evaluate a ci-provider template against flattened claims (``ValidationError`` if missing)."""
    out: list[str] = []
    _render(parse_template(text), data, out)
    return "".join(out)

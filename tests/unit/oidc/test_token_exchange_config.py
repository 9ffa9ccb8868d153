"""The ``token_exchange`` configuration key (docs/oidc.md, "Token exchange: configuration"): parsed
and checked when the issuer starts, every mistake a ``ConfigError`` naming where it is, unknown
keys refused (a misspelt ``audiance`` must not leave the audience unchecked)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from sigstack.protocol.errors import ConfigError
from sigstack.services.oidc.config import OIDCConfig
from sigstack.services.oidc.exchangerules import parse_exchange

from .exchange_env import exchange_config
from .helpers import ISSUER, make_env

BASE = "https://ci.example"


def _parse(raw: Any) -> Any:
    return parse_exchange(raw, ISSUER)


def _with(change: Any) -> list[dict[str, Any]]:
    raw = copy.deepcopy(exchange_config(BASE))
    change(raw)
    return raw


def test_the_documented_examples_parse():
    issuers = _parse(exchange_config(BASE))
    github, k8s = issuers[BASE + "/github"], issuers[BASE + "/k8s"]
    assert github.audiences == (ISSUER,)  # the default: this issuer's URL
    assert github.max_token_age == 3600 and k8s.max_token_age == 600
    assert k8s.audiences == ("sigstack-token-exchange",)
    assert [r.name for r in github.rules] == ["octo-app-releases", "ghost-repo"]
    assert github.rules[0].service_accounts == ("release-bot",)
    assert [c.claim for c in github.rules[1].conditions] == ["sub"]
    assert [c.path for c in k8s.rules[0].conditions] == [("kubernetes.io", "namespace")]


def test_nothing_configured_is_no_exchange():
    assert _parse(()) == {}
    assert _parse([]) == {}


def _set(path: str, value: Any):
    def change(raw: list[dict[str, Any]]) -> None:
        *parents, last = path.split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DROP:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return change


_DROP = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("0.issuer", _DROP), r"token_exchange\[0\]\.issuer is required"),
        (_set("0.issuer", "ci.example"), r"token_exchange\[0\]\.issuer must be"),
        (_set("0.issuer", BASE + "/github?x=1"), r"token_exchange\[0\]\.issuer must be"),
        (_set("1.issuer", BASE + "/github"), r"token_exchange\[1\]\.issuer .* twice"),
        (_set("0.audiance", "x"), r"token_exchange\[0\] has unknown keys: audiance"),
        (_set("0.audience", []), r"token_exchange\[0\]\.audience"),
        (_set("0.audience", [""]), r"token_exchange\[0\]\.audience"),
        (_set("0.audience", 5), r"token_exchange\[0\]\.audience"),
        (_set("0.max_token_age", 10), r"token_exchange\[0\]\.max_token_age"),
        (_set("0.max_token_age", 86401), r"token_exchange\[0\]\.max_token_age"),
        (_set("0.timeout", 0), r"token_exchange\[0\]\.timeout"),
        (_set("0.ca_file", "/no/such/ca.pem"), r"token_exchange\[0\]\.ca_file"),
        (_set("0.rules", []), r"token_exchange\[0\]\.rules must be a non-empty list"),
        (_set("0.rules", _DROP), r"token_exchange\[0\]\.rules must be a non-empty list"),
        (_set("0.rules.0", "x"), r"token_exchange\[0\]\.rules\[0\] must be an object"),
        (_set("0.rules.0.name", _DROP), r"token_exchange\[0\]\.rules\[0\]\.name is required"),
        (_set("0.rules.0.name", "a b"), r"token_exchange\[0\]\.rules\[0\]\.name"),
        (_set("1.rules.0.name", "ghost-repo"), r"rule name 'ghost-repo' is used twice"),
        (
            _set("0.rules.0.claims", _DROP),
            r"token_exchange\[0\]\.rules\[0\] needs subject or claims",
        ),
        (_set("0.rules.0.claims", {}), r"token_exchange\[0\]\.rules\[0\]"),
        (_set("0.rules.0.claims", {"/a~2": "x"}), r"token_exchange\[0\]\.rules\[0\].*JSON Pointer"),
        (_set("0.rules.1.subject", []), r"token_exchange\[0\]\.rules\[1\]"),
        (_set("0.rules.1.subject", 7), r"token_exchange\[0\]\.rules\[1\]"),
        (_set("0.rules.0.service_accounts", _DROP), r"rules\[0\]\.service_accounts"),
        (_set("0.rules.0.service_accounts", []), r"rules\[0\]\.service_accounts"),
        (_set("0.rules.0.service_accounts", ["*"]), r"rules\[0\]\.service_accounts"),
        (_set("0.rules.0.service_accounts", ["Release Bot"]), r"rules\[0\]\.service_accounts"),
        (_set("0.rules.0.service_acounts", ["x"]), r"rules\[0\] has unknown keys: service_acounts"),
        (_set("0", "https://ci.example"), r"token_exchange\[0\] must be an object"),
    ],
)
def test_mistakes_are_refused_with_where_they_are(change, message):
    with pytest.raises(ConfigError, match=message):
        _parse(_with(change))


@pytest.mark.parametrize("raw", [{"issuer": BASE}, "https://ci.example", 5])
def test_the_key_is_a_list(raw):
    with pytest.raises(ConfigError, match="token_exchange must be a list"):
        _parse(raw)


def test_the_issuer_does_not_start_with_a_bad_configuration(tmp_path: Path):
    bad = _with(_set("0.rules.0.service_accounts", []))
    with pytest.raises(ConfigError, match=r"rules\[0\]\.service_accounts"):
        make_env(tmp_path, token_exchange=bad)


def test_from_the_environment_as_json():
    import json

    config = OIDCConfig.load(
        flags={"issuer_url": ISSUER},
        environ={"SIGSTACK_OIDC_TOKEN_EXCHANGE": json.dumps(exchange_config(BASE))},
    )
    assert set(parse_exchange(config.token_exchange, ISSUER)) == {BASE + "/github", BASE + "/k8s"}

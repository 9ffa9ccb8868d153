"""Schemathesis against a running sigstack service, shared by the per-service fuzz modules.

Each module starts its service for real (``tests.support.servers.Service``, 127.0.0.1, SQLite, a log
file), loads the OpenAPI document the server itself answers at ``GET /openapi.json`` and, per
documented operation, lets schemathesis send what it generates (``Fuzzer.run``), in three phases:
the document's examples, schemathesis' deterministic *coverage* cases (boundary values, missing
and mistyped parameters, undocumented methods) and random *fuzzing* cases, positive (fits the
document) and negative (breaks it) alike. Generation is seeded per operation, so a run repeats
exactly; ``SIGSTACK_FUZZ_SCALE`` multiplies the number of random cases (``make fuzz-api`` runs
ten times as many). ``Fuzzer.probe`` adds values schemathesis seldom draws to every query and path
parameter.

What every answer must satisfy (``CHECKS`` and ``_no_leak``): no 5xx; a status, content type,
headers and body the document lists for the operation; malformed input refused with a 4xx; a 405
with an ``Allow`` header for an undocumented method; no Python traceback or exception name in the
body. After the fuzzing each module checks what the service wrote (its log and its data), see
``Fuzzer.log_problems`` and the modules' ``test_nothing_written``.

The operation list of a module comes from the document in the repository (``operations``) so
that each operation is its own test; tests/unit/runtime/test_openapi.py checks that the served
document is that file.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import http.cookiejar
import importlib
import json
import os
import pkgutil
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis.internal.conjecture import providers as hypothesis_providers
from hypothesis.internal.constants_ast import Constants, constants_from_module
from hypothesis.internal.floats import float_to_int
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation import derive_operation_seed
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)
from schemathesis.specs.openapi import checks as openapi_checks
from sortedcontainers import SortedSet

from tests.support.servers import Service
from tests.support.testdata import ROOT

SEED = 20261201
SCALE = float(os.environ.get("SIGSTACK_FUZZ_SCALE", "1"))
CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
]
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# A Python traceback, or the name of a Python exception, in an answer is a leak of internals
# (docs/ARCHITECTURE.md rule 3). Names the request itself carried (an echoed form field) are not.
_LIBRARY_EXCEPTIONS = (
    "IntegrityError OperationalError ProgrammingError DataError StatementError InvalidSignature "
    "UnsupportedAlgorithm JoseError DecodeError OAuth2Error BadRequestKeyError JSONDecodeError "
    "sqlalchemy werkzeug psycopg"
).split()
_EXCEPTION_NAMES = sorted(
    {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
    - {"Warning"}  # an English word too
    | set(_LIBRARY_EXCEPTIONS)
)
_LEAK = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\.py\", line \d+|\b(?:"
    + "|".join(map(re.escape, _EXCEPTION_NAMES))
    + r")\b"
)


# Values schemathesis rarely draws, sent to every query and path parameter one at a time: Unicode
# digits that ``str.isdigit`` accepts and ``int`` does not, more digits than ``int`` reads, and
# other shapes of "a number".
HOSTILE = ["²", "١٢", "１", "𝟙", "-1", "+1", " 1", "1 ", "1.5", "1e3", "0x10", "NaN", "Infinity",
           "", "9" * 25, "9" * 5000, "\x00", "%", "../..", "\u202e1", "\ufeff1"]  # fmt: skip


def operations(service: str) -> list[str]:
    """``METHOD /path`` of every operation the service's document describes."""
    doc = json.loads((ROOT / "services" / service / "openapi.json").read_text())
    return [
        f"{method.upper()} {path}"
        for path, item in doc["paths"].items()
        for method in _METHODS
        if method in item
    ]


def cases(
    service: str,
    budget: Mapping[str, int],
    default: int,
    known: Mapping[str, str] | None = None,
) -> list[Any]:
    """pytest parameters ``(operation, examples)``: the random examples per operation come
    from ``budget`` (else ``default``), scaled by SIGSTACK_FUZZ_SCALE. ``known`` marks the
    operations that still fail, with the reason, as strict xfails."""
    out = []
    for label in operations(service):
        examples = max(1, round(budget.get(label, default) * SCALE))
        marks = []
        if known and label in known:
            marks.append(pytest.mark.xfail(strict=True, reason=known[label]))
        out.append(pytest.param(label, examples, id=label, marks=marks))
    return out


def package_constants(package: str) -> Constants:
    """The literal constants of a package's modules, in sorted sets.

    Hypothesis now and then draws a constant found in the *local* modules loaded at the time;
    which those are depends on what else the test process imported (under xdist, on which test
    files share the worker), so the same seed drew different requests. The fuzzer fixes them
    to the constants of the service's own package (its client id, its enum values, ...):
    useful, and the same in every run. Sorted sets, as Hypothesis keeps them: the draw indexes
    into them, and a plain set's order changes with the hash seed.
    """
    out = Constants(integers=SortedSet(), floats=SortedSet(key=float_to_int), bytes=SortedSet(),
                    strings=SortedSet())  # fmt: skip
    root = importlib.import_module(package)
    names = [package] + sorted(
        m.name for m in pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
    )
    for name in names:
        out |= constants_from_module(importlib.import_module(name))
    return out


@contextlib.contextmanager
def _drawing_constants(constants: Constants) -> Iterator[None]:
    """Hypothesis draws ``constants`` as its local constants (hypothesis==6.170.17 internals)."""
    original = hypothesis_providers._get_local_constants
    hypothesis_providers.CONSTANTS_CACHE.cache.clear()
    hypothesis_providers._get_local_constants = lambda: constants
    try:
        yield
    finally:
        hypothesis_providers._get_local_constants = original
        hypothesis_providers.CONSTANTS_CACHE.cache.clear()


def _plain(parameter: Mapping[str, Any]) -> str:
    """An ordinary value for a parameter: its default or first enum value, else "1"."""
    schema = parameter.get("schema", {})
    for value in (schema.get("default"), *(schema.get("enum") or [])):
        if value is not None:
            return str(value)
    return "1"


def _no_leak(case: Any, response: requests.Response) -> None:
    body = response.content.decode("utf-8", "replace")
    sent = " ".join(
        str(part)
        for part in (case.path_parameters, case.query, case.body, case.headers, case.cookies)
        if part
    )
    for match in _LEAK.finditer(body):
        if match.group(0) not in sent:
            raise AssertionError(
                f"{case.method} {case.formatted_path} answered {response.status_code} with "
                f"Python internals ({match.group(0)!r}): {body[:500]!r}"
            )


class Fuzzer:
    """The schema of one running service, and what was sent to it."""

    log: Path  # the service's log, set by the module's fixture

    def __init__(self, service: Service) -> None:
        self.service = service
        self.constants = package_constants(f"sigstack.services.{service.name}")
        self.schema = schemathesis.openapi.from_url(f"{service.url}/openapi.json")
        self.schema.config.generation.update(
            modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        )
        self.session = requests.Session()
        # every case stands alone: no cookie set by one answer goes with the next request
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.sent: Counter[str] = Counter()  # requests per operation label
        self.statuses: Counter[int] = Counter()
        self.trace = hashlib.sha256()  # of every request sent: equal digests, equal runs
        self.documented = [
            (
                method.upper(),
                re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(path)) + "$"),
            )
            for path, item in self.schema.raw_schema["paths"].items()
            for method in _METHODS
            if method in item
        ]
        self.checks = [*CHECKS, self._undocumented_method]

    def _undocumented_method(self, ctx: Any, response: Any, case: Any) -> bool | None:
        """schemathesis' ``unsupported_method`` (405 with ``Allow``), except where the method and
        URL are another documented operation (``GET /api/v1/log/entries/retrieve`` is Rekor's
        ``GET /api/v1/log/entries/{entryUUID}``, not an undocumented method)."""
        request = response.request
        path = urlsplit(request.url).path
        if any(m == request.method and rx.match(path) for m, rx in self.documented):
            return None
        return openapi_checks.unsupported_method(ctx, response, case)

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def _count(self, label: str, response: requests.Response) -> None:
        self.sent[label] += 1
        self.statuses[response.status_code] += 1
        request = response.request
        body = request.body.encode() if isinstance(request.body, str) else request.body or b""
        where = urlsplit(request.url or "")  # without the host: the port differs between runs
        for part in (request.method or "", f"{where.path}?{where.query}", body):
            data = part.encode() if isinstance(part, str) else part
            self.trace.update(len(data).to_bytes(8, "big") + data)

    def summary(self) -> str:
        """What was sent, for the test output (pytest -s, or -rA)."""
        statuses = dict(sorted(self.statuses.items()))
        return (f"{self.service.name}: {self.total} requests, statuses {statuses}, "
                f"trace {self.trace.hexdigest()[:16]}")  # fmt: skip

    def run(
        self,
        label: str,
        max_examples: int,
        prepare: Callable[[Any], dict[str, Any]] | None = None,
        **call: Any,
    ) -> None:
        """Every phase of schemathesis for one operation; ``call`` goes to ``Case.call``, and so
        does what ``prepare(case)`` returns for each case."""
        operation = self.schema.find_operation_by_label(label)
        assert operation is not None, f"{label} is not in the served document"

        def test(case: Any) -> None:
            extra = prepare(case) if prepare else {}
            response = case.call(session=self.session, timeout=30, **call, **extra)
            self._count(label, response)
            _no_leak(case, response)
            case.validate_response(response, checks=self.checks)

        settings = hypothesis.settings(
            max_examples=max_examples,
            database=None,
            deadline=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            print_blob=False,
            report_multiple_bugs=False,
        )
        project = self.schema.config
        # building the test draws too: schemathesis makes the examples and coverage cases then
        with _drawing_constants(self.constants):
            hypothesis_test = create_test(
                operation=operation,
                test_func=test,
                config=HypothesisTestConfig(
                    project=project,
                    modes=[
                        HypothesisTestMode.EXAMPLES,
                        HypothesisTestMode.COVERAGE,
                        HypothesisTestMode.FUZZING,
                    ],
                    settings=settings,
                    explicit_settings=settings,
                    seed=derive_operation_seed(SEED, label),
                    feedback=FeedbackSources(),
                ),
            )
            hypothesis_test()
        self.probe(label)

    def probe(self, label: str) -> None:
        """HOSTILE values in each query and path parameter of the operation, the others set to
        a plain value: no 5xx, nothing leaked."""
        method, path = label.split(" ", 1)
        op = self.schema.raw_schema["paths"][path][method.lower()]
        params = [p for p in op.get("parameters", []) if p["in"] in ("query", "path")]
        body = op.get("requestBody", {}).get("content", {})
        extra: dict[str, Any] = {}
        if "application/json" in body:
            extra["json"] = {}
        elif body:
            extra["data"] = {}
        for target in params:
            for value in HOSTILE:
                values = {p["name"]: _plain(p) for p in params} | {target["name"]: value}
                url = self.service.url + re.sub(
                    r"\{([^}]+)\}", lambda m, v=values: quote(v[m.group(1)], safe=""), path
                )
                query = {p["name"]: values[p["name"]] for p in params if p["in"] == "query"}
                resp = self.session.request(method, url, params=query, timeout=30, **extra)
                self._count(label, resp)
                where = f"{method} {resp.url[:200]} ({target['name']}={value[:20]!r})"
                assert resp.status_code < 500, f"{where}: {resp.status_code} {resp.text[:300]}"
                leak = _LEAK.search(resp.content.decode("utf-8", "replace"))
                assert leak is None or leak.group(0) in value, f"{where}: {resp.text[:300]}"

    def assert_clean(self, *more_logs: Path, least: int | None = 2000) -> None:
        """How every fuzzed service must end: no traceback or error record in its log (and in
        ``more_logs``), at least ``least`` requests sent, and no 5xx the server counted."""
        for log in (self.log, *more_logs):
            assert not self.log_problems(log)
        if least is not None:
            assert self.total >= least, self.sent
        assert not any(s.startswith("5") for s in self.server_statuses())

    def log_problems(self, log: Path) -> list[str]:
        """Lines of the service's log that show a traceback or an error-level record."""
        problems = []
        for line in log.read_text(errors="replace").splitlines():
            if "Traceback" in line or re.search(r'"level": "(error|critical)"', line):
                problems.append(line[:500])
        return problems

    def metric(self, sample: str) -> float:
        """The value of one sample of the service's /metrics, named as exposed
        (``name{label="value"}``); 0 when absent."""
        text = self.session.get(f"{self.service.url}/metrics", timeout=30).text
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def server_statuses(self) -> Counter[str]:
        """Requests the service counted (``sigstack_http_requests_total``), by status."""
        text = self.session.get(f"{self.service.url}/metrics", timeout=30).text
        out: Counter[str] = Counter()
        for line in text.splitlines():
            found = re.match(r'sigstack_http_requests_total\{.*status="(\d+)".*\} (\S+)$', line)
            if found:
                out[found.group(1)] += int(float(found.group(2)))
        return out

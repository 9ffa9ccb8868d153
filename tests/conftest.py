"""Suite-wide rules: a test that cannot find a real part it needs skips with the reason, and the
run ends with a loud list of those skips. With ``SIGSTACK_TEST_NO_SKIP=1`` (CI sets it) a skip is a
failure instead: on a machine that should have every part, a missing part must not pass unseen."""

from __future__ import annotations

import os
import sys
from collections import Counter
from typing import Any

import pytest

NO_SKIP = os.environ.get("SIGSTACK_TEST_NO_SKIP") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    report = outcome.get_result()
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.longrepr = f"skipped under SIGSTACK_TEST_NO_SKIP=1: {reason}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: Counter[str] = Counter()
    for report in skipped:
        longrepr = report.longrepr
        reasons[longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)] += 1
    write = terminalreporter.write_line
    write("")
    write("!" * 100, red=True, bold=True)
    write(f"{len(skipped)} TESTS DID NOT RUN because a real part they need is missing here:",
          red=True, bold=True)  # fmt: skip
    for reason, count in reasons.most_common():
        write(f"  {count:4d} x {reason}", red=True)
    write("Install the parts (make sysdeps; PostgreSQL on 127.0.0.1:5432) or set "
          "SIGSTACK_TEST_NO_SKIP=1 to make these failures.", red=True)  # fmt: skip
    write("!" * 100, red=True, bold=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Our packages are imported as ``sigstack.*`` only: a module also loaded under its bare folder
    name (``services.rekor.store``) would exist twice, with two error trees and two table
    registries. A string import missed by the architecture test shows here."""
    bare = sorted(n for n in sys.modules if n.split(".")[0] in {"protocol", "client", "services",
                                                                  "migrations"})  # fmt: skip
    if bare:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nimported under a bare folder name instead of sigstack.*: {bare[:10]}")

"""docs/install.md describes the ports ``sigstack up`` really takes: one per service of
``services.stack_processes.SERVICES``, from the base N to N+len-1, each service at its offset."""

from __future__ import annotations

import re

from sigstack.services.stack_processes import SERVICES
from tests.support.testdata import ROOT

NAMES = {"oidc": "the OIDC issuer", "fulcio": "Fulcio", "ctlog": "the CT log", "rekor": "Rekor",
         "tuf": "the TUF repository", "tsa": "the timestamp authority", "rekor2": "Rekor v2"}  # fmt: skip
COUNTS = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def test_install_doc_names_every_port_up_takes() -> None:
    text = " ".join((ROOT / "docs" / "install.md").read_text().split())
    last = len(SERVICES) - 1
    assert f"starts {COUNTS[len(SERVICES)]} services" in text
    for offset, service in enumerate(SERVICES):
        assert f"{NAMES[service]} ({'N' if offset == 0 else f'N+{offset}'})" in text, service
    assert f"checks all {COUNTS[len(SERVICES)]} ports (N to N+{last})" in text
    assert f"ports 6550–{6550 + last}" in text
    for stated in re.findall(r"ports (\d+)–(\d+)", text):  # no other, stale range
        assert int(stated[1]) - int(stated[0]) == last, stated

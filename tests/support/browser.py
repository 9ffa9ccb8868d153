"""Headless Debian Chromium driven by Playwright (never `playwright install`: no downloads here)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def sign_blob_in_browser(
    args: list[str], tmp_path: Path, sign_in: Callable[[str], None]
) -> tuple[int, str, str]:
    """``sigstack sign-blob ARGS`` with a terminal on stdin (so it picks the browser flow) and a
    script as ``$BROWSER`` that writes down the URL it is asked to open; once it has one,
    ``sign_in(url)`` does the person's part. Returns the exit code, stdout and stderr."""
    from tests.support.testdata import ROOT

    url_file, opener = tmp_path / "url", tmp_path / "open-url"
    opener.write_text(f"#!/bin/sh\nprintf '%s' \"$1\" > {url_file}\n")
    opener.chmod(0o755)
    controller, terminal = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "SIGSTORE_ID_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sigstack.client.cli", "sign-blob", *args],
        cwd=ROOT, stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "BROWSER": f"{opener} %s"},
    )  # fmt: skip
    os.close(terminal)
    try:
        deadline = time.monotonic() + 60
        while not url_file.exists() or not url_file.read_text():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "sign-blob never opened a browser"
            time.sleep(0.1)
        sign_in(url_file.read_text())
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out, err


@contextmanager
def chromium() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip("needs Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()

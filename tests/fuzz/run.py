"""Runs the atheris harnesses one after the other, each for a bounded time (``make fuzz``).

    .venv/bin/python -m tests.fuzz.run [--seconds 60] [FAMILY ...]

Each family runs in its own process (libFuzzer owns it) with its corpus in
build/fuzz/corpus/<family> (seeded by the harness, grown by the run) and its findings in
build/fuzz/crashes/<family>-*: an input that made a foreign exception escape. Exits 1 if any
family found one, after running them all.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from tests.fuzz.corpus import FAMILIES

BUILD = Path("build") / "fuzz"


def run(family: str, seconds: int, extra: list[str]) -> int:
    corpus = BUILD / "corpus" / family
    crashes = BUILD / "crashes"
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", f"tests.fuzz.fuzz_{family}",
        f"-max_total_time={seconds}", "-timeout=20", "-rss_limit_mb=4096",
        f"-artifact_prefix={crashes}/{family}-", "-print_final_stats=1", *extra, str(corpus),
    ]  # fmt: skip
    started = time.monotonic()
    code = subprocess.call(command)
    print(f"== {family}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="per family")
    parser.add_argument("families", nargs="*", default=list(FAMILIES))
    parser.add_argument("--libfuzzer", action="append", default=[], help="extra libFuzzer flag")
    args = parser.parse_args(argv)
    failed = [f for f in args.families if run(f, args.seconds, args.libfuzzer) != 0]
    if failed:
        print(f"findings (or errors) in: {', '.join(failed)}; see {BUILD / 'crashes'}")
        return 1
    print(f"no escapes in {', '.join(args.families)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

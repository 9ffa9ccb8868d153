"""Builds the seed corpus of the atheris harnesses from the fuzz properties' seeds.

Each file is one target selector byte (the index of the target in its family's ``TARGETS``)
followed by one seed: real material from tests/data and what the test kits make. Kit-made seeds
carry signatures by keys of the process that made them, so each harness also writes its own
family's seeds when it starts (``write``); this script builds every family's for a look, or for
a run of libFuzzer by hand:

    .venv/bin/python -m tests.fuzz.corpus [--out build/fuzz/corpus] [FAMILY ...]

The corpus is not committed (build/ is ignored): it is rebuilt from tests/data each time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
from pathlib import Path
from typing import Any

FAMILIES = ("notes", "sct", "bundles", "trust", "certs", "tokens", "oci", "rekor", "rekor2",
            "tuf", "tsa")  # fmt: skip
DEFAULT_OUT = Path("build") / "fuzz" / "corpus"


def family_targets(family: str) -> list[Any]:
    if family not in FAMILIES:
        raise SystemExit(f"unknown family {family!r}; one of {', '.join(FAMILIES)}")
    return list(importlib.import_module(f"tests.unit.fuzz.test_{family}").TARGETS)


def write(targets: list[Any], folder: Path) -> int:
    """Write one file per (target, seed) into ``folder``; returns how many."""
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, target in enumerate(targets):
        for seed in target.seeds():
            data = bytes([index]) + seed
            (folder / hashlib.sha256(data).hexdigest()[:40]).write_bytes(data)
            count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("families", nargs="*", default=list(FAMILIES))
    args = parser.parse_args(argv)
    for family in args.families:
        count = write(family_targets(family), args.out / family)
        print(f"{family}: {count} seeds in {args.out / family}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

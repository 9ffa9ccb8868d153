"""The one atheris harness, run per family by the ``fuzz_<family>.py`` modules.

``main(family)`` imports the family's fuzz targets (tests/unit/fuzz/test_<family>.py) with the
project's packages instrumented for coverage, writes the family's seeds into the corpus folder
given on the command line, and fuzzes: the first byte of an input picks the target, the rest is
fed to it, and the property is the hypothesis tests' (``tests.unit.fuzz.core.check``): only
``protocol.errors.Error`` may escape; anything else is a crash that libFuzzer reports and saves.
Half of the mutations are libFuzzer's own, half are the properties' structure-aware ones
(``tests.unit.fuzz.mutate``: tokens, JSON fields, base64 inside JSON, PEM and DER elements).
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

INSTRUMENTED = ["protocol", "client", "services"]


def main(family: str) -> None:
    import atheris

    warnings.simplefilter("ignore")  # cryptography's deprecation warnings, once per input
    logging.disable(logging.CRITICAL)  # refusals are logged at WARNING by the services
    with atheris.instrument_imports(include=INSTRUMENTED):
        from tests.fuzz import corpus
        from tests.unit.fuzz.core import check
        from tests.unit.fuzz.mutate import RandomPicker, mutate

        targets = corpus.family_targets(family)
    folders = [a for a in sys.argv[1:] if not a.startswith("-")]
    if folders:
        corpus.write(targets, Path(folders[0]))

    def test_one_input(data: bytes) -> None:
        if data:
            check(targets[data[0] % len(targets)], data[1:])

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        pick = RandomPicker(seed)
        if len(data) < 2 or pick.int(0, 1):
            return bytes(atheris.Mutate(data, max_size))
        return (data[:1] + mutate(data[1:], pick))[:max_size]

    atheris.Setup(sys.argv, test_one_input, custom_mutator=custom_mutator)
    atheris.Fuzz()

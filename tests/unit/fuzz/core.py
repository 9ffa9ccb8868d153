"""The property every parser of outside input must hold, and the hypothesis tests that check it.

Property (docs/ARCHITECTURE.md, rule 2 "verify or raise"): called with any bytes, an entry point
returns normally or raises a ``protocol.errors.Error``; any other exception (``ValueError``,
``KeyError``, ``UnicodeError``, ``RecursionError``, cryptography's exceptions, ...) is an escape
and fails the test with the input shown.

A ``Target`` is one entry point as a function of bytes, with seeds (real material from tests/data
or made by the test kits). ``property_tests`` makes two parametrized tests per family module:
arbitrary bytes, and seeds mutated by ``mutate.mutate`` (bytes, tokens, JSON, PEM, DER levels).
Runs are deterministic (``derandomize``, no example database). ``SIGSTACK_FUZZ_SCALE`` multiplies
the number of examples (``make fuzz`` raises it); the atheris harnesses in tests/fuzz call the
same targets.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigstack.protocol.errors import Error

from .mutate import DrawPicker, mutate


@dataclass(frozen=True)
class Target:
    """One entry point: ``call(data)`` feeds it ``data``; ``seeds()`` gives valid inputs."""

    name: str
    call: Callable[[bytes], Any]
    seeds: Callable[[], list[bytes]] = field(default=lambda: [b""])

    def __repr__(self) -> str:
        return self.name


class Escape(AssertionError):
    """A foreign exception left an entry point."""


def check(target: Target, data: bytes) -> None:
    """Run ``target`` on ``data``; raise ``Escape`` (with the input) unless it returned or
    raised a project error."""
    try:
        target.call(data)
    except Error:
        return
    except Exception as exc:  # noqa: BLE001 - the property under test: nothing else may escape
        shown = data if len(data) <= 4000 else data[:4000] + b"..."
        tail = "".join(traceback.format_exception(exc)[-6:])
        raise Escape(
            f"{target.name} let {type(exc).__name__} escape: {exc}\ninput ({len(data)} bytes): "
            f"{shown!r}\n{tail}"
        ) from exc


def scale() -> int:
    try:
        return max(1, int(os.environ.get("SIGSTACK_FUZZ_SCALE", "1")))
    except ValueError:
        return 1


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples * scale(),
        derandomize=True,
        database=None,
        deadline=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
    )


@st.composite
def mutants(draw: Any, seeds: list[bytes]) -> bytes:
    seed = draw(st.sampled_from(seeds))
    return mutate(seed, DrawPicker(draw))


def property_tests(targets: list[Target], *, arbitrary: int, mutated: int) -> tuple[Any, Any]:
    """The two tests of a family module: ``arbitrary`` examples of arbitrary bytes and
    ``mutated`` mutants of the seeds, per target."""
    ids = [t.name for t in targets]

    @pytest.mark.parametrize("target", targets, ids=ids)
    @fuzz_settings(arbitrary)
    @given(data=st.binary(max_size=1024))
    def test_arbitrary_bytes(target: Target, data: bytes) -> None:
        check(target, data)

    @pytest.mark.parametrize("target", targets, ids=ids)
    @fuzz_settings(mutated)
    @given(data=st.data())
    def test_mutated_seeds(target: Target, data: Any) -> None:
        check(target, data.draw(mutants(target.seeds()), label="mutant"))

    return test_arbitrary_bytes, test_mutated_seeds


def text(data: bytes) -> str:
    """``data`` as the ``str`` a caller would pass: UTF-8, undecodable bytes kept as lone
    surrogates (so a parser taking ``str`` also sees text with no UTF-8 form)."""
    return data.decode("utf-8", "surrogateescape")

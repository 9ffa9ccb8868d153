"""Every bundle the committed generator (``mutations``, ``mutations_signed``) derives from a
valid one is refused — by the parser with a ``ValidationError`` or by the verifier with a
``VerificationError``, never with another exception, never accepted — except the mutations the
allow-list ``mutations.ALLOWED`` documents as neutral, which must verify with exactly the seed's
verified times (security review, issue 11 section 3). About 4,500 mutants, a few seconds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from sigstack.protocol.bundle import Bundle

from . import mutations, mutations_json, mutations_signed
from .kit import Kit
from .mutations import Mutant, Outcome, Seed


@dataclass
class Run:
    seeds: list[Seed]
    mutants: list[Mutant]
    outcome: Outcome


@pytest.fixture(scope="module")
def run() -> Run:
    kit = Kit()
    seeds = mutations.real_seeds() + mutations.kit_seeds(kit)
    other_instance = Kit().trusted_root()
    mutants = (
        mutations_json.json_mutants(seeds)
        + mutations_signed.signed_mutants(kit)
        + mutations_signed.root_mutants(seeds, other_instance)
    )
    return Run(seeds, mutants, mutations.run(mutants))


def _report(items: list[str]) -> str:
    return f"{len(items)}:\n  " + "\n  ".join(items[:60])


def test_every_seed_verifies(run: Run) -> None:
    for seed in run.seeds:
        seed.verify(Bundle.from_dict(seed.doc))


def test_no_mutant_raises_a_foreign_exception(run: Run) -> None:
    crashed = [f"{m.id}: {why}" for m, why in run.outcome.crashed]
    assert not crashed, _report(crashed)


def test_every_mutant_is_refused_unless_allowed(run: Run) -> None:
    accepted = [m.id for m, _ in run.outcome.accepted if m.allowed is None]
    assert not accepted, "accepted mutants " + _report(accepted)


def test_allowed_mutants_change_nothing_the_verifier_relies_on(run: Run) -> None:
    """An allowed mutant verifies with the seed's verified times; only entries marked
    ``or_refused`` may be refused instead."""
    baseline: dict[str, list] = {}
    for seed in run.seeds:
        baseline[seed.name] = sorted(seed.verify(Bundle.from_dict(seed.doc)).times)
    wrong = []
    for mutant, result in run.outcome.accepted:
        if mutant.allowed is None:
            continue
        origin = mutant.seed.parent or mutant.seed
        if sorted(result.times) != baseline[origin.name]:
            wrong.append(f"{mutant.id}: verified times {result.times}")
    for mutant in run.outcome.refused:
        if mutant.allowed is not None and not mutant.allowed.or_refused:
            wrong.append(f"{mutant.id}: refused, but allowed as neutral: the entry is stale")
    assert not wrong, _report(wrong)


def test_every_allow_list_entry_is_used(run: Run) -> None:
    used = {id(m.allowed) for m in run.mutants if m.allowed is not None}
    stale = [rule.reason[:70] for rule in mutations.ALLOWED if id(rule) not in used]
    assert not stale, _report(stale)


def test_every_field_of_every_seed_is_mutated_and_refused(run: Run) -> None:
    """Coverage: each node of each seed's JSON has at least one refused mutant at its path."""
    refused = {(m.seed.name, m.path) for m in run.outcome.refused}
    missing = [
        f"{seed.name}:{mutations.dotted(path)}"
        for seed in run.seeds
        for path, _ in mutations.nodes(seed.doc)
        if (seed.name, path) not in refused
    ]
    assert not missing, _report(missing)


def test_the_generator_is_broad(run: Run) -> None:
    per_seed = Counter(m.seed.name.split("+")[0].split(":")[0] for m in run.mutants)
    assert len(run.mutants) > 4000
    assert all(per_seed[seed.name] > 150 for seed in run.seeds), per_seed
    assert per_seed["kit-signed"] >= 35
    ops = {m.op.split("-")[0] for m in run.mutants}
    for family in ("drop", "null", "retype", "flip", "plus", "decade", "dup", "graft",
                   "checkpoint", "resigned", "root", "duplicate", "both"):  # fmt: skip
        assert family in ops, family

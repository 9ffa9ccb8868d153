"""sigstack.protocol.record behaves like dataclasses.dataclass for what the models use."""

from __future__ import annotations

import dataclasses

import pytest

from sigstack.protocol.record import record


@record(frozen=True)
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    note: str = dataclasses.field(default="", compare=False, repr=False)


@record
class Bag:
    items: list[int] = dataclasses.field(default_factory=list)
    seen: int = 0

    def __post_init__(self) -> None:
        self.seen += 1


def test_frozen_record() -> None:
    p = Point(1, tags=("a",))
    assert p == Point(1, 0, ("a",), note="ignored in eq")
    assert p != Point(2)
    assert hash(p) == hash(Point(1, 0, ("a",)))
    assert repr(p) == "Point(x=1, y=0, tags=('a',))"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.x  # type: ignore[misc]
    q = dataclasses.replace(p, y=5)
    assert (q.x, q.y, q.tags) == (1, 5, ("a",))
    assert dataclasses.is_dataclass(p)
    assert [f.name for f in dataclasses.fields(p)] == ["x", "y", "tags", "note"]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_mutable_record() -> None:
    a, b = Bag(), Bag()
    a.items.append(1)
    assert b.items == [] and a.seen == 1
    assert Bag([1], 0) == a  # __post_init__ ran for both
    with pytest.raises(TypeError):
        hash(a)


def test_field_order_is_checked() -> None:
    with pytest.raises(TypeError, match="follows a default"):

        @record
        class Bad:
            a: int = 1
            b: int

"""``record``: ``dataclasses.dataclass`` for models, without compiling code per class.

``dataclasses`` compiles every generated method separately (six ``exec`` calls for a frozen
class), which costs about a millisecond per class at import time; the verify command imports some
thirty models and must start fast (see bench/verify.py). ``record`` attaches a generic
``__init__``, ``__repr__``, ``__eq__``, ``__hash__`` (frozen only) and the frozen ``__setattr__`` /
``__delattr__`` as closures (nothing is compiled at import), and fills ``__dataclass_fields__`` so that
``dataclasses.replace``, ``fields`` and ``is_dataclass`` keep working. Supported: annotated fields
with plain defaults or ``dataclasses.field(default=..., default_factory=..., repr=..., compare=...)``,
``__post_init__``, ``frozen``. Not supported (not needed here): inheritance of fields, ``InitVar``,
``ClassVar``, keyword-only fields, ordering.

Type checkers see the real ``dataclass`` (``TYPE_CHECKING`` alias at the bottom).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

__all__ = ["record"]

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def _build(cls: type[T], frozen: bool) -> type[T]:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    fields: dict[str, dataclasses.Field[Any]] = {}
    defaults: dict[str, Any] = {}
    factories: dict[str, Callable[[], Any]] = {}
    for name in names:
        value = cls.__dict__.get(name, _MISSING)
        f = value if isinstance(value, dataclasses.Field) else dataclasses.field(default=value)
        f.name = name
        f.type = cls.__annotations__[name]
        f._field_type = dataclasses._FIELD  # type: ignore[attr-defined,union-attr]
        fields[name] = f
        if f.default_factory is not _MISSING:
            factories[name] = f.default_factory
        elif f.default is not _MISSING:
            defaults[name] = f.default
            if name in cls.__dict__:
                setattr(cls, name, f.default)
        elif defaults or factories:
            raise TypeError(f"non-default field {name!r} follows a default field")
    known = frozenset(names)
    compared = tuple(n for n in names if fields[n].compare)
    shown = tuple(n for n in names if fields[n].repr)
    post_init = getattr(cls, "__post_init__", None)
    set_ = object.__setattr__
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        if len(args) > len(names):
            raise TypeError(f"{qualname}() takes {len(names)} positional arguments")
        values = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key not in known or key in values:
                raise TypeError(f"{qualname}() got an unexpected or repeated argument {key!r}")
            values[key] = value
        for name in names:
            if name in values:
                value = values[name]
            elif name in defaults:
                value = defaults[name]
            elif name in factories:
                value = factories[name]()
            else:
                raise TypeError(f"{qualname}() missing required argument {name!r}")
            set_(self, name, value)
        if post_init is not None:
            post_init(self)

    def __repr__(self: Any) -> str:  # noqa: N807
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown)
        return f"{qualname}({inner})"

    def __eq__(self: Any, other: Any) -> bool:  # noqa: N807
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in compared)

    def __hash__(self: Any) -> int:  # noqa: N807
        return hash(tuple(getattr(self, n) for n in compared))

    def __setattr__(self: Any, name: str, value: Any) -> None:  # noqa: N807
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:  # noqa: N807
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")

    methods: dict[str, Any] = {"__init__": __init__, "__repr__": __repr__, "__eq__": __eq__}
    if frozen:
        methods.update(__hash__=__hash__, __setattr__=__setattr__, __delattr__=__delattr__)
    else:
        methods["__hash__"] = None
    for fname, fn in methods.items():
        if fn is not None:
            fn.__qualname__ = f"{qualname}.{fname}"
        setattr(cls, fname, fn)
    cls.__dataclass_fields__ = fields  # type: ignore[attr-defined]
    setattr(cls, "__match_args__", names)  # noqa: B010
    return cls


def _record(cls: Any = None, /, *, frozen: bool = False) -> Any:
    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen)

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:
    from dataclasses import dataclass as record
else:  # noqa: PLR5501
    record: Callable[..., Any] = _record

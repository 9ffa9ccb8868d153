"""A clock the test moves by hand, for code that takes a ``clock``, ``now`` or ``monotonic``
callable."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T", float, datetime)


class Clock(Generic[T]):
    """Calling it answers ``now``; ``advance`` moves it forward.

    ``now`` is seconds (a float, as ``time.time`` or ``time.monotonic`` answer) or an aware
    ``datetime``; ``advance(seconds, **timedelta_kwargs)`` adds to either kind."""

    def __init__(self, now: T) -> None:
        self.now: T = now

    @classmethod
    def wall(cls) -> Clock[float]:
        """Seconds since the epoch, starting at the real time."""
        return Clock(time.time())

    @classmethod
    def utc(cls, now: datetime | None = None) -> Clock[datetime]:
        """An aware datetime, starting at ``now`` or the real time."""
        return Clock(now or datetime.now(UTC))

    def __call__(self) -> T:
        return self.now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> None:
        if isinstance(self.now, datetime):
            self.now = self.now + timedelta(seconds=seconds, **kwargs)
        else:
            step = seconds + timedelta(**kwargs).total_seconds()
            self.now = self.now + step  # type: ignore[assignment]

"""The repository's expiry cache is shared by every request thread of a TUF worker: a refresh on
one thread drops it (``refresh_online``) while another reads it. A reader takes the cache once per
call, so a drop between two of its reads cannot make it fail."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sigstack.services.tuf.repo import Repository
from tests.support.clock import Clock


class _DroppedAfterEachRead(Repository):
    """Right after each read of the cache, another thread's refresh drops it."""

    @property  # type: ignore[override]
    def _expiry_cache(self) -> Any:
        value = self.__dict__.get("_racing")
        self.__dict__["_racing"] = None
        return value

    @_expiry_cache.setter
    def _expiry_cache(self, value: Any) -> None:
        self.__dict__["_racing"] = value


def test_a_refresh_dropping_the_cache_mid_read_does_not_break_a_reader(tmp_path: Path) -> None:
    repo = _DroppedAfterEachRead(tmp_path / "repo", clock=Clock.utc())
    repo.init(tmp_path / "offline", root_keys=1, root_threshold=1, targets_keys=1,
              targets_threshold=1)  # fmt: skip
    for _ in range(3):  # before and after the cache is filled
        assert repo.refresh_online(timedelta(hours=12)) is None
    ts = repo.published("timestamp").signed.expires
    snap = repo.published("snapshot").signed.expires
    assert repo._expiries() == (ts, snap)

"""The mirror's origin-hash aliases are shared by every request thread: another request may
replace them (a new generation) while one looks a name up. A lookup takes them once, so it never
pairs one generation's check with another generation's map."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sigstack.services.mirror.api import Directory


class _ReplacedAfterEachRead(Directory):
    """Right after each read of the aliases, another thread replaces them with another
    generation's."""

    @property
    def _aliases(self) -> Any:
        value = self.__dict__["_racing"]
        self.__dict__["_racing"] = ("gen.999999", {})
        return value

    @_aliases.setter
    def _aliases(self, value: Any) -> None:
        self.__dict__["_racing"] = value


def test_a_lookup_uses_one_generations_aliases(tmp_path: Path) -> None:
    gen = tmp_path / "gen.000001"
    gen.mkdir()
    (gen / "mirror.json").write_text(json.dumps({"logs": [{"origin": "log.example/one",
                                                            "name": "one"}]}))  # fmt: skip
    by_hash = hashlib.sha256(b"log.example/one").hexdigest()
    directory = _ReplacedAfterEachRead(tmp_path)
    for _ in range(3):  # the first lookup fills the aliases, the others find them filled
        directory._aliases = (gen.name, directory._origin_hashes(gen))
        assert directory.log_dir(gen, by_hash) == gen / "log" / "one"
    directory._aliases = ("", {})
    assert directory.log_dir(gen, by_hash) == gen / "log" / "one"
    assert directory.log_dir(gen, "one") == gen / "log" / "one"

"""What sigstack writes to disk is for its own user only: databases 0600 (with their WAL and
shared-memory files), data directories 0700 (an existing looser one is tightened), and a key file
that others may read is refused instead of used."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import text

from sigstack.protocol.errors import ConfigError
from sigstack.services.keys import create_file_key, load_signer
from sigstack.services.runtime import datadir, db


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_sqlite_database_and_its_wal_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual login umask: files would be 0644 unless made otherwise
    try:
        engine = db.make_engine(db.sqlite_url(tmp_path / "x.db"))
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        files = [tmp_path / n for n in ("x.db", "x.db-wal", "x.db-shm")]
        assert all(p.exists() for p in files)
        assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
        engine.dispose()
    finally:
        os.umask(old)


def test_existing_loose_database_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    engine = db.make_engine(db.sqlite_url(path))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
    path.chmod(0o644)
    engine = db.make_engine(db.sqlite_url(path))
    with engine.connect() as conn:
        conn.execute(text("SELECT * FROM t")).all()
    engine.dispose()
    assert _mode(path) == 0o600


def test_data_dir_is_created_0700_and_a_loose_one_tightened(tmp_path: Path) -> None:
    prepared = datadir.prepare_data_dir(tmp_path / "new", "rekor")
    assert _mode(tmp_path / "new") == 0o700
    assert _mode(tmp_path / "new" / "rekor.db") == 0o600
    assert prepared.created
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    datadir.prepare_data_dir(loose, "rekor")
    assert _mode(loose) == 0o700
    (loose / "rekor.db").chmod(0o644)
    datadir.prepare_data_dir(loose, "rekor")
    assert _mode(loose / "rekor.db") == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    key = tmp_path / "key.pem"
    create_file_key(key)
    load_signer(f"file:{key}")  # 0600 as written
    key.chmod(mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_signer(f"file:{key}")

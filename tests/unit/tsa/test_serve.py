"""``sigstack serve tsa`` start-up decisions (``serve.configure``): the development chain of a new
data directory, reuse, and every refusal, before any server process runs."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sigstack.protocol.errors import ConfigError
from sigstack.services.tsa.config import TSAConfig
from sigstack.services.tsa.serve import configure, parse
from tests.unit.tsa.helpers import (
    NOW,
    dev_chain,
    non_critical_eku_chain,
)


def _prepare(data: Path, *extra: str) -> TSAConfig:
    return configure(parse(["--data-dir", str(data), *extra]))


def test_new_data_dir_gets_a_development_chain(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = _prepare(data)
    chain_dir = data / "chain"
    assert config.key_uri == f"file:{(chain_dir / 'leaf-key.pem').resolve()}"
    assert config.chain_file == str((chain_dir / "chain.pem").resolve())
    assert sorted(p.name for p in chain_dir.iterdir()) == [
        "chain.pem",
        "leaf-key.pem",
        "leaf.pem",
        "root.pem",
    ]
    assert stat.S_IMODE((chain_dir / "leaf-key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(chain_dir.stat().st_mode) == 0o700
    first = (chain_dir / "chain.pem").read_bytes()
    assert _prepare(data) == config  # reused, not remade
    assert (chain_dir / "chain.pem").read_bytes() == first


def test_half_a_chain_is_refused(tmp_path: Path) -> None:
    _prepare(tmp_path / "a")
    (tmp_path / "a" / "chain" / "leaf-key.pem").unlink()
    with pytest.raises(ConfigError, match="leaf-key.pem is missing"):
        _prepare(tmp_path / "a")
    _prepare(tmp_path / "b")
    (tmp_path / "b" / "chain" / "chain.pem").unlink()
    with pytest.raises(ConfigError, match="chain.pem is missing"):
        _prepare(tmp_path / "b")


def test_loose_chain_dir_is_tightened(tmp_path: Path) -> None:
    _prepare(tmp_path / "d")
    (tmp_path / "d" / "chain").chmod(0o755)
    _prepare(tmp_path / "d")
    assert stat.S_IMODE((tmp_path / "d" / "chain").stat().st_mode) == 0o700


def test_key_and_chain_given(tmp_path: Path) -> None:
    made = dev_chain(tmp_path / "c", intermediate=True)
    config = _prepare(tmp_path / "data", "--key", made.key_uri, "--chain", str(made.chain_file))
    assert config.key_uri == made.key_uri
    assert not (tmp_path / "data" / "chain").exists()
    with pytest.raises(ConfigError, match="together"):
        _prepare(tmp_path / "data", "--key", made.key_uri)
    with pytest.raises(ConfigError, match="together"):
        _prepare(tmp_path / "data", "--chain", str(made.chain_file))
    with pytest.raises(ConfigError, match="ephemeral TSA key is refused"):
        _prepare(tmp_path / "data", "--key", "ephemeral:", "--chain", str(made.chain_file))


def test_bad_chain_refused_with_the_reason(tmp_path: Path) -> None:
    key_file, chain_file, (leaf, _) = non_critical_eku_chain(tmp_path)
    with pytest.raises(ConfigError, match="must be marked critical"):
        _prepare(tmp_path / "data", "--key", f"file:{key_file}", "--chain", str(chain_file))
    assert leaf.not_valid_after_utc > NOW


def test_configuration_checked(tmp_path: Path) -> None:
    config = tmp_path / "tsa.json"
    config.write_text('{"accepted_policy_oids": ["not an oid"]}')
    with pytest.raises(ConfigError, match="accepted_policy_oids"):
        _prepare(tmp_path / "data", "--config", str(config))

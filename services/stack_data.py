"""``sigstack up``'s data: every service's data directory configured in-process before any child
starts (the logs' keys, databases and trees, the TSA's chain, the OIDC issuer's keys and database),
the demo identities, and the JSON files the stack writes."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from sigstack.protocol.errors import ConfigError

DEMO_USER = "demo"
DEMO_ACCOUNT = "demo"


def write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    """Write JSON atomically with ``mode``."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def configure_logs(data: Path, urls: dict[str, str], database_url: str | None) -> dict[str, Any]:
    """CT log, Rekor and Rekor v2: keys, databases and trees; the TSA's chain. Returns the logs'
    public keys (PEM), both logs' checkpoint origins (Rekor v1's checkpoints are signed under
    ``rekor_hostname``) and the TSA chain (PEM)."""
    from sigstack.services.ctlog.serve import configure as configure_ctlog
    from sigstack.services.keys import load_signer
    from sigstack.services.rekor.app import open_rekor
    from sigstack.services.rekor.serve import configure as configure_rekor
    from sigstack.services.rekor2.serve import configure as configure_rekor2
    from sigstack.services.tsa.serve import prepare_data_dir as prepare_tsa_dir

    rekor = configure_rekor(str(data / "rekor"), database_url=database_url)
    rekor_hostname = urls["rekor"].split("//", 1)[1]  # the child's --hostname
    opened = open_rekor(rekor.with_values(hostname=rekor_hostname, witness_policy=None))
    rekor_origin = opened.origin  # <hostname> - <tree ID>
    opened.close()
    ctlog = configure_ctlog(str(data / "ctlog"), database_url=database_url,
                            roots_file=str(data / "fulcio" / "ca" / "root.pem"))  # fmt: skip
    # a new v2 log is named HOST:PORT, as `sigstack serve rekor2` names it; the database keeps it
    rekor2 = configure_rekor2(str(data / "rekor2"), database_url=database_url,
                              default_origin=urls["rekor2"].split("//", 1)[1])  # fmt: skip
    _key_uri, chain = prepare_tsa_dir(data / "tsa")
    return {"rekor": load_signer(rekor.storage()[1]).public_pem,
            "ctlog": load_signer(ctlog.storage()[1]).public_pem,
            "rekor2": load_signer(rekor2.storage()[1]).public_pem,
            "rekor2_origin": rekor2.origin,
            "rekor_hostname": rekor_hostname,
            "rekor_origin": rekor_origin,
            "tsa_chain": Path(chain).read_bytes()}  # fmt: skip


def configure_oidc(data: Path, database_url: str | None) -> None:
    """The OIDC issuer's data directory, initialised or checked."""
    from sigstack.services.oidc.config import OIDCConfig
    from sigstack.services.oidc.datadir import prepare_data_dir

    config = OIDCConfig.load(flags={"data_dir": str(data / "oidc"), "database_url": database_url})
    prepare_data_dir(config).engine.dispose()


def demo_identities(data: Path, urls: dict[str, str], database_url: str | None) -> dict[str, Any]:
    """The demo user (password printed once) and service account (secret in a 0600 file)."""
    from sigstack.services.oidc.cli import create_service_account, create_user
    from sigstack.services.oidc.config import OIDCConfig
    from sigstack.services.oidc.datadir import prepare_data_dir

    config = OIDCConfig.load(flags={"data_dir": str(data / "oidc"), "database_url": database_url,
                                    "issuer_url": urls["oidc"]})  # fmt: skip
    store = prepare_data_dir(config)
    out: dict[str, Any] = {}
    if store.user_by_name(DEMO_USER) is None:
        password = secrets.token_urlsafe(12)
        create_user(store, DEMO_USER, "demo@sigstack.local", password)
        out["password"] = password
    account = data / "demo-service-account.json"
    if store.service_account_by_name(DEMO_ACCOUNT) is None:
        email, client_id, secret = create_service_account(store, config, DEMO_ACCOUNT)
        write_json(account, {"client_id": client_id, "client_secret": secret,
                         "token_endpoint": f"{urls['oidc']}/token", "email": email}, 0o600)  # fmt: skip
    elif not account.exists():
        raise ConfigError(f"{account} is missing and its secret cannot be shown again")
    out["account"] = json.loads(account.read_text())
    return out

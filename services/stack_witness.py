"""``sigstack up --witness``: the stack's own witness, and the logs wired to it.

Before any child starts (``configure_witness``), in-process:

1. the witness's data directory ``DIR/witness`` is checked or made, as ``sigstack serve witness``
   does it (``runtime.datadir``: an Ed25519 key, its database; a key without its database or the
   reverse is refused). A new witness is named ``HOST:N+7``; the name is written next to the key and
   kept for life (its key ID, and every cosignature, depend on it), so a later ``up`` on another
   port base keeps the first name;
2. the log list ``DIR/witness/logs.txt`` (``logs/v0``) names the logs it follows, from the logs'
   current keys: Rekor v2 under its origin (kept in its database, so not read from the trusted
   root, whose ``baseUrl`` follows the port base) and Rekor v1 (type 0x02 ECDSA vkey named by its
   host, origin ``<host> - <tree ID>``);
3. the policy ``DIR/witness-policy.txt`` (C2SP tlog-policy): the witness's vkey and URL, quorum of
   it alone. The same file is the logs' ``witness_policy`` (they need the URL) and the clients'
   ``--witness-policy`` (which ignores the URL).

The logs get the policy as ``SIGSTACK_REKOR_WITNESS_POLICY`` and ``SIGSTACK_REKOR2_WITNESS_POLICY``
in their environment (``policy_environment``) and keep the default ``witness_fail_closed: false``:
fail-open, as rekor-tiles runs, so a witness that is down or slow never stops the logs; the
checkpoint is published with the lines it got, and only clients with the policy refuse it.
Left to others: starting the witness (``stack_processes``), the protocol (``services.witness``,
``services.tlog.witnessing``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

WITNESS = "witness"
POLICY_FILE = "witness-policy.txt"
LOGS_FILE = "logs.txt"  # in DIR/witness
POLICY_LABEL = "stack"  # the witness's name inside the policy file


def _log_list(keys: dict[str, Any]) -> str:
    """The ``logs/v0`` list of the stack's Rekor v1 and v2 logs (their current keys)."""
    from sigstack.protocol import note
    from sigstack.services.witness.logs import Log, to_log_list

    def der(pem: bytes) -> bytes:
        return serialization.load_pem_public_key(pem).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    spki = der(keys["rekor"])
    v1 = note.verifier_for_key(keys["rekor_hostname"], spki, note.ecdsa_key_id(spki))
    v2 = note.verifier_for_key(keys["rekor2_origin"], der(keys["rekor2"]))
    logs = [Log(keys["rekor2_origin"], (v2,), source="sigstack up"),
            Log(keys["rekor_origin"], (v1,), source="sigstack up")]  # fmt: skip
    return "# written by `sigstack up --witness` at each start: the stack's logs\n" + to_log_list(
        logs
    )


def configure_witness(
    data: Path, urls: dict[str, str], keys: dict[str, Any], database_url: str | None
) -> str:
    """The witness's data directory, log list and the policy file (module docstring); returns
    the witness's vkey."""
    from sigstack.services.keys import load_signer
    from sigstack.services.runtime import datadir
    from sigstack.services.witness.cosigner import vkey
    from sigstack.services.witness.serve import resolve_name

    directory = data / WITNESS
    prepared = datadir.prepare_data_dir(directory, WITNESS, database_url=database_url,
                                        key_algorithm="ed25519")  # fmt: skip
    name = resolve_name(directory, None, urls[WITNESS].split("//", 1)[1],
                        created=prepared.created)  # fmt: skip
    key = vkey(name, load_signer(prepared.key_uri).public_key)
    (directory / LOGS_FILE).write_text(_log_list(keys))
    (data / POLICY_FILE).write_text(
        "# written by `sigstack up --witness` at each start: the stack's witness. The logs\n"
        "# publish checkpoints it cosigned (fail-open); clients require it with\n"
        "# `--witness-policy` on this file.\n"
        f"witness {POLICY_LABEL} {key} {urls[WITNESS]}\n"
        f"quorum {POLICY_LABEL}\n"
    )
    return key


def witness_arguments(data: Path) -> list[str]:
    """``sigstack serve witness``'s arguments besides port, host and workers (the name is the
    data directory's)."""
    return ["--data-dir", str(data / WITNESS), "--logs", str(data / WITNESS / LOGS_FILE)]


def policy_environment(data: Path) -> dict[str, dict[str, str]]:
    """Per service, the variables that give the logs the policy."""
    policy = str(data / POLICY_FILE)
    return {"rekor": {"SIGSTACK_REKOR_WITNESS_POLICY": policy},
            "rekor2": {"SIGSTACK_REKOR2_WITNESS_POLICY": policy}}  # fmt: skip

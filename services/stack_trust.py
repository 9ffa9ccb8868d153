"""``sigstack up``'s trust documents: the trusted root and the signing configs built from the
services' keys and URLs, kept across runs (a rotated key closes the old entry's window and adds the
new one), and published through the stack's TUF repository (``services.tuf``)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

TSA_PATH = "/api/v1/timestamp"  # a signing config names the TSA's endpoint, not its base URL
OPERATOR = "sigstack (local)"


def trust_documents(
    data: Path, urls: dict[str, str], keys: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The trusted root and the two signing configs (``default``: Rekor v1 + TSA; ``rekor_v2``:
    Rekor v2, then v1, + TSA) for the current keys.

    A later ``up`` whose CA chain, TSA chain or log keys changed (an operator rotated one), or that
    meets a service an older ``up`` did not run, keeps the published entries, closes the replaced
    ones' windows now and adds the new ones, so older signatures keep verifying.
    """
    from sigstack.services.tuf import signingconfig, trustroot

    chain = (data / "fulcio" / "ca" / "chain.pem").read_bytes()
    path = data / "trusted_root.json"
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(minutes=5)
    tsa_url = urls["tsa"] + TSA_PATH

    def build(valid_from: dt.datetime) -> dict[str, Any]:
        return trustroot.build_trusted_root(
            fulcio_chain_pem=chain, fulcio_url=urls["fulcio"], ctlog_public_key=keys["ctlog"],
            ctlog_url=urls["ctlog"], rekor_public_key=keys["rekor"], rekor_url=urls["rekor"],
            tsa_chain_pem=keys["tsa_chain"], tsa_url=tsa_url,
            rekor_v2=trustroot.RekorV2(keys["rekor2"], urls["rekor2"], keys["rekor2_origin"]),
            valid_from=valid_from,
        )  # fmt: skip

    if not path.exists():
        root = build(start)
    else:
        root, current = json.loads(path.read_text()), build(now)
        for kind in trustroot.KINDS:
            for entry in current[kind]:
                if not any(
                    _identity(kind, e) == _identity(kind, entry) for e in root.get(kind, [])
                ):
                    root = trustroot.rotate(root, kind, entry, now)

    def signing_config(rekor_v2_urls: list[str]) -> dict[str, Any]:
        return signingconfig.build_signing_config(
            ca_urls=[urls["fulcio"]], oidc_urls=[urls["oidc"]], tsa_urls=[tsa_url],
            rekor_urls=[urls["rekor"]], rekor_v2_urls=rekor_v2_urls,
            operator=OPERATOR, valid_from=start,
        )  # fmt: skip

    signing = {"default": signing_config([]), "rekor_v2": signing_config([urls["rekor2"]])}
    for name, fresh in signing.items():
        old_signing = data / SIGNING_FILES[name]
        if old_signing.exists():
            previous = json.loads(old_signing.read_text())
            if _service_urls(previous) == _service_urls(fresh):
                signing[name] = previous  # the same services: keep their windows' start
    return root, signing


SIGNING_FILES = {"default": "signing_config.json", "rekor_v2": "signing_config_rekor_v2.json"}
TRUST_FILES = {"default": "trust_config.json", "rekor_v2": "trust_config_rekor_v2.json"}
TUF_SIGNING_TARGETS = {
    "default": "signing_config.v0.2.json",
    "rekor_v2": "signing_config_rekor_v2.v0.2.json",
}


def _identity(kind: str, entry: dict[str, Any]) -> Any:
    if kind in ("tlogs", "ctlogs"):
        return entry["publicKey"]["rawBytes"]
    return [c["rawBytes"] for c in entry["certChain"]["certificates"]]


def _service_urls(signing: dict[str, Any]) -> Any:
    return [
        [(s["url"], s.get("majorApiVersion")) for s in signing.get(k, [])]
        for k in ("caUrls", "oidcUrls", "rekorTlogUrls", "tsaUrls")
    ]


def publish_tuf(data: Path, root: Any, signing: dict[str, Any]) -> None:
    from sigstack.services.tuf.keys import open_signer
    from sigstack.services.tuf.repo import Repository

    repo_dir, key_dir = data / "tuf", data / "tuf-keys"
    repo = Repository(repo_dir)
    if not (repo_dir / "public" / "1.root.json").exists():
        repo.init(key_dir)
    wanted = {"trusted_root.json": json.dumps(root, indent=2).encode()}
    for name, target in TUF_SIGNING_TARGETS.items():
        wanted[target] = json.dumps(signing[name], indent=2).encode()
    targets = repo.published("targets").signed.targets
    changed = False
    for name, content in wanted.items():
        current = targets.get(name)
        if current is None or current.hashes.get("sha256") != hashlib.sha256(content).hexdigest():
            repo.add_target(name, content)
            changed = True
    if changed:
        repo.sign("targets", open_signer(str(key_dir / "targets-1.pem")))
        repo.publish()
    (repo_dir / "root.json").write_bytes((repo_dir / "public" / "1.root.json").read_bytes())

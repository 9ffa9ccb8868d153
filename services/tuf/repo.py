"""The TUF repository's offline operations: init, stage, threshold-sign, publish, rotate keys.

Root and targets are offline roles: every change to them is *staged* (``staged/<role>.json``, a new
version with no signatures), key holders add signatures one at a time with their own key, and
``publish`` copies the change into ``public/`` only when the threshold is met — for a new root,
the thresholds of both the trusted root and the new root (TUF spec §5.3.4). Snapshot and timestamp
are online roles: they are re-signed on publish here, and by the server when they come within the
configured margin of expiry (``services.tuf.online``, the base class). Writers hold ``Layout.locked()``; the server's
readers only ever see complete files (``store.write_atomic``).

Metadata follows python-tuf's Metadata API with consistent snapshots: ``N.root.json``,
``V.targets.json``, ``V.snapshot.json``, ``timestamp.json`` and ``targets/<sha256>.<name>``.
The HTTP side lives in ``services.tuf.serve``, argument parsing in ``services.tuf.cli``.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from securesystemslib.signer import Key, Signer
from tuf.api.metadata import Metadata, Root, TargetFile, Targets
from tuf.api.serialization.json import CanonicalJSONSerializer

from sigstack.protocol.errors import ConfigError, NotFoundError, ValidationError, VerificationError

from . import keys as tufkeys
from .online import DEFAULT_SETTINGS, ONLINE_ROLES, SERIALIZER, PublishedRepository
from .store import TARGET_NAME, check_outside, read_json, write_atomic, write_json

OFFLINE_ROLES = ("root", "targets")
USAGES = ("Fulcio", "Rekor", "CTFE", "TSA", "Unknown")
STATUSES = ("Active", "Expired")


def validate_custom(custom: Any) -> dict[str, Any]:
    """Check target ``custom`` metadata (``custom.sigstore`` as in Sigstore's root-signing)."""
    if not isinstance(custom, dict):
        raise ValidationError("custom target metadata must be a JSON object")
    sig = custom.get("sigstore")
    if sig is not None:
        if not isinstance(sig, dict):
            raise ValidationError("custom.sigstore must be a JSON object")
        if "usage" in sig and sig["usage"] not in USAGES:
            raise ValidationError(f"custom.sigstore.usage must be one of {', '.join(USAGES)}")
        if "status" in sig and sig["status"] not in STATUSES:
            raise ValidationError(f"custom.sigstore.status must be one of {', '.join(STATUSES)}")
        if "uri" in sig and not isinstance(sig["uri"], str):
            raise ValidationError("custom.sigstore.uri must be a string")
    return custom


class Repository(PublishedRepository):
    """A repository directory with the offline operations (``clock`` as for the base class)."""

    # ----------------------------------------------------------------- init
    def init(
        self,
        key_dir: str | Path,
        *,
        root_keys: int = 1,
        root_threshold: int = 1,
        targets_keys: int = 1,
        targets_threshold: int = 1,
        algorithm: str = "ecdsa-p256",
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, list[str]]:
        """Create keys and publish version 1 of every role, return the offline key paths by role."""
        lay = self.layout
        if lay.exists() or (lay.public.exists() and any(lay.public.iterdir())):
            raise ConfigError(
                f"{lay.root} already holds a TUF repository; refusing to overwrite it"
            )
        for count, threshold, role in (
            (root_keys, root_threshold, "root"),
            (targets_keys, targets_threshold, "targets"),
        ):
            if not 1 <= threshold <= count:
                raise ConfigError(f"{role} threshold must be between 1 and the number of keys")
        key_dir = Path(key_dir).resolve()
        check_outside(key_dir, lay.public)
        existing = [p.name for p in key_dir.glob("*.pem")] if key_dir.is_dir() else []
        if (lay.keys / "online.pem").exists() or any(
            n.startswith(("root-", "targets-")) for n in existing
        ):
            raise ConfigError(f"keys from an earlier init exist in {key_dir}; refusing to reuse")
        unknown = set(settings or {}) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ConfigError(f"unknown repository settings: {', '.join(sorted(unknown))}")
        with lay.locked():
            conf = {**DEFAULT_SETTINGS, **(settings or {})}
            offline: dict[str, list[str]] = {"root": [], "targets": []}
            signers: dict[str, list[Signer]] = {"root": [], "targets": []}
            for role, count in (("root", root_keys), ("targets", targets_keys)):
                for i in range(1, count + 1):
                    path = key_dir / f"{role}-{i}.pem"
                    tufkeys.create_key(path, algorithm, key_dir / f"{role}-{i}.pub.pem")
                    offline[role].append(str(path))
                    signers[role].append(tufkeys.open_signer(str(path)))
            lay.keys.mkdir(mode=0o700, parents=True, exist_ok=True)
            online_key = tufkeys.create_key(lay.keys / "online.pem", algorithm)
            now = self._now()
            root = Root(
                version=1,
                expires=now + timedelta(days=conf["root_expiry_days"]),
                consistent_snapshot=True,
            )
            for role, signer_list in signers.items():
                for s in signer_list:
                    root.add_key(s.public_key, role)
            for role in ONLINE_ROLES:
                root.add_key(online_key, role)
            root.roles["root"].threshold = root_threshold
            root.roles["targets"].threshold = targets_threshold
            root_md = Metadata(root)
            for s in signers["root"]:
                root_md.sign(s, append=True)
            targets_md = Metadata(
                Targets(version=1, expires=now + timedelta(days=conf["targets_expiry_days"]))
            )
            for s in signers["targets"]:
                targets_md.sign(s, append=True)
            conf["online_keys"] = {role: "file:keys/online.pem" for role in ONLINE_ROLES}
            write_json(lay.settings, conf)
            self._write_public(root_md, targets_md)
            self._sign_online(root_md.signed, new_snapshot=True)
        return offline

    # ----------------------------------------------------------------- staging
    def _stage(self, role: str) -> Metadata[Any]:
        """The staged metadata for ``role``, created from the published one if none is staged."""
        md = self.staged(role)
        if md is not None:
            return md
        md = copy.deepcopy(self.published(role))
        md.signed.version += 1
        md.signatures.clear()
        days = self.settings()[f"{role}_expiry_days"]
        md.signed.expires = self._now() + timedelta(days=days)
        return md

    def _save_staged(self, role: str, md: Metadata[Any], *, keep_signatures: bool = False) -> None:
        if not keep_signatures:
            md.signatures.clear()
        write_atomic(self.layout.staged / f"{role}.json", md.to_bytes(SERIALIZER))

    def add_target(self, name: str, data: bytes, custom: Any = None) -> Metadata[Targets]:
        """Stage ``name`` (new or changed) in the next targets version."""
        if not TARGET_NAME.match(name):
            raise ValidationError("target names are letters, digits, '.', '_' and '-' only")
        with self.layout.locked():
            md = self._stage("targets")
            target = TargetFile.from_data(name, data, ["sha256"])
            if custom is not None:
                target.unrecognized_fields["custom"] = validate_custom(custom)
            md.signed.targets[name] = target
            write_atomic(self.layout.staged_targets / name, data)
            self._save_staged("targets", md)
            return md

    def remove_target(self, name: str) -> Metadata[Targets]:
        with self.layout.locked():
            md = self._stage("targets")
            if md.signed.targets.pop(name, None) is None:
                raise NotFoundError(f"no target named {name}")
            self._save_staged("targets", md)
            return md

    def renew(self, role: str) -> Metadata[Any]:
        """Stage a new version of an offline role with a fresh expiry (nothing else changes)."""
        if role not in OFFLINE_ROLES:
            raise ValidationError(
                "only root and targets are renewed by hand; the rest is automatic"
            )
        with self.layout.locked():
            md = self._stage(role)
            md.signed.expires = self._now() + timedelta(days=self.settings()[f"{role}_expiry_days"])
            self._save_staged(role, md)
            return md

    def rotate_key(self, role: str, old: Key, new: Key, *, new_uri: str | None = None) -> None:
        """Stage a root version in which ``new`` replaces ``old`` for ``role``.

        Rotating the targets key also stages a targets version, which the new key(s) must sign.
        Rotating an online role needs ``new_uri`` (where the server finds the new private key).
        """
        if role not in OFFLINE_ROLES + ONLINE_ROLES:
            raise ValidationError(f"unknown role {role!r}")
        if role in ONLINE_ROLES and not new_uri:
            raise ValidationError("rotating an online role needs the new private key")
        with self.layout.locked():
            md = self._stage("root")
            root: Root = md.signed
            if old.keyid not in root.roles[role].keyids:
                raise ValidationError(f"the old key is not a {role} key")
            if new.keyid in root.roles[role].keyids:
                raise ValidationError(f"the new key is already a {role} key")
            root.revoke_key(old.keyid, role)
            root.add_key(new, role)
            self._save_staged("root", md)
            if role == "targets":
                self._save_staged("targets", self._stage("targets"))
            if role in ONLINE_ROLES:
                path = self.layout.staged / "online.json"
                pending = read_json(path) if path.is_file() else {}
                pending[role] = new_uri
                write_json(path, pending)

    def discard(self, role: str) -> None:
        with self.layout.locked():
            for name in [f"{role}.json"] + (["online.json"] if role == "root" else []):
                (self.layout.staged / name).unlink(missing_ok=True)

    # ----------------------------------------------------------------- signing
    def _effective_root(self) -> Root:
        staged = self.staged("root")
        root: Root = (staged if staged is not None else self.published("root")).signed
        return root

    def sign(self, role: str, signer: Signer) -> dict[str, Any]:
        """Add ``signer``'s signature to the staged ``role``; returns the role's status."""
        if role not in OFFLINE_ROLES:
            raise ValidationError("only root and targets take offline signatures")
        with self.layout.locked():
            md = self.staged(role)
            if md is None:
                raise NotFoundError(f"no {role} change is staged")
            keyid = signer.public_key.keyid
            allowed = set(self._effective_root().roles[role].keyids)
            if role == "root":
                allowed |= set(self.published("root").signed.roles["root"].keyids)
            if keyid not in allowed:
                raise VerificationError(
                    f"this key is not a {role} key of the staged or current root"
                )
            md.sign(signer, append=True)
            self._save_staged(role, md, keep_signatures=True)
            return self.status()[role]

    def status(self) -> dict[str, dict[str, Any]]:
        """Per staged role: version, signatures present and missing, whether it is ready."""
        out: dict[str, dict[str, Any]] = {}
        trusted = self.published("root").signed
        staged_root = self.staged("root")
        if staged_root is not None:
            payload = CanonicalJSONSerializer().serialize(staged_root.signed)
            res = staged_root.signed.get_root_verification_result(
                trusted, payload, staged_root.signatures
            )
            missing = max(res.first.missing, 0) + max(res.second.missing, 0)
            out["root"] = {
                "version": staged_root.signed.version,
                "ready": res.verified,
                "signatures": len(res.signed),
                "missing": missing,
            }
        staged_targets = self.staged("targets")
        root = staged_root.signed if staged_root is not None else trusted
        if staged_targets is not None:
            payload = CanonicalJSONSerializer().serialize(staged_targets.signed)
            tres = root.get_verification_result("targets", payload, staged_targets.signatures)
            out["targets"] = {
                "version": staged_targets.signed.version,
                "ready": tres.verified,
                "signatures": len(tres.signed),
                "missing": max(tres.missing, 0),
            }
        elif staged_root is not None:
            current = self.published("targets")
            payload = CanonicalJSONSerializer().serialize(current.signed)
            if not root.get_verification_result("targets", payload, current.signatures).verified:
                out["targets"] = {
                    "version": None,
                    "ready": False,
                    "signatures": 0,
                    "missing": 1,
                    "note": "the new root's targets keys must sign a targets version",
                }
        return out

    # ----------------------------------------------------------------- publishing
    def publish(self) -> list[str]:
        """Publish every staged role if all of them meet their thresholds, then re-sign snapshot and
        timestamp. Raises ``VerificationError`` (and publishes nothing) if any role is short."""
        with self.layout.locked():
            status = self.status()
            short = [
                f"{role} v{s['version']} needs {s['missing']} more signature(s)"
                for role, s in status.items()
                if not s["ready"]
            ]
            if short:
                raise VerificationError("not published: " + "; ".join(short))
            root_md = self.staged("root")
            targets_md = self.staged("targets")
            if targets_md is not None:
                for name, info in targets_md.signed.targets.items():
                    self._publish_target_file(name, info)
            self._write_public(root_md, targets_md)
            pending = self.layout.staged / "online.json"
            if pending.is_file():
                conf = read_json(self.layout.settings)
                conf["online_keys"] = {**conf.get("online_keys", {}), **read_json(pending)}
                write_json(self.layout.settings, conf)
            root = root_md.signed if root_md is not None else self.published("root").signed
            self._sign_online(root, new_snapshot=True)
            for name in ("root.json", "targets.json", "online.json"):
                (self.layout.staged / name).unlink(missing_ok=True)
            return [r for r, m in (("root", root_md), ("targets", targets_md)) if m is not None]

    def _publish_target_file(self, name: str, info: TargetFile) -> None:
        digest = info.hashes["sha256"]
        dest = self.layout.public_targets / f"{digest}.{name}"
        if dest.is_file():
            return
        source = self.layout.staged_targets / name
        data = source.read_bytes() if source.is_file() else b""
        if hashlib.sha256(data).hexdigest() != digest or len(data) != info.length:
            raise ConfigError(f"staged file for target {name} is missing or does not match")
        write_atomic(dest, data)

    def _write_public(
        self, root_md: Metadata[Root] | None, targets_md: Metadata[Any] | None
    ) -> None:
        pub = self.layout.public
        if root_md is not None:
            data = root_md.to_bytes(SERIALIZER)
            write_atomic(pub / f"{root_md.signed.version}.root.json", data)
            write_atomic(pub / "root.json", data)
        if targets_md is not None:
            write_atomic(
                pub / f"{targets_md.signed.version}.targets.json", targets_md.to_bytes(SERIALIZER)
            )

"""TUF bootstrap and cache for trust material (python-tuf ngclient, imported lazily).

``sigstack initialize --mirror URL --root root.json`` trusts the given root (never one fetched from
the network: no trust on first use), refreshes the metadata and downloads ``trusted_root.json`` and
``signing_config.v0.2.json`` into the cache: ``$TUF_ROOT`` or ``~/.sigstore/root``, with
``remote.json`` naming the mirror and one directory per mirror (``metadata/``, ``targets/``).

Later commands refresh the metadata first (one request for ``timestamp.json`` when nothing changed),
as sigstore-python does, so a key rotation published through TUF is seen at once; a refresh newer
than ``REFRESH_AFTER`` seconds is reused. ``--offline`` never touches the network, but the cached
target is still checked against the cached metadata (``_verify_cached``): the chain of signatures
root → timestamp → snapshot → targets under the locally trusted ``root.json`` (TUF specification
5.3-5.6, without the network and without the expiry checks, since an offline cache is old by
nature), then the target's length and hashes as ``targets.json`` records them. A cache someone
rewrote is refused, not used (sigstore-python's offline mode reads the files unchecked).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from sigstack.protocol.errors import ConfigError, ValidationError

if TYPE_CHECKING:  # python-tuf is imported on first use; its types are only named here
    from collections.abc import Iterator

    from tuf.api.metadata import Metadata, Root, Snapshot, TargetFile, Targets, Timestamp
    from tuf.ngclient.fetcher import FetcherInterface
    from tuf.ngclient.updater import Updater

    from sigstack.client.trust import TrustOptions

    _Role = TypeVar("_Role", Timestamp, Snapshot, Targets)

TARGETS = ("trusted_root.json", "signing_config.v0.2.json")
PRODUCTION = "https://tuf-repo-cdn.sigstore.dev"
STAGING = "https://tuf-repo-cdn.sigstage.dev"
REFRESH_AFTER = 0


def cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("TUF_ROOT")
    return Path(base) if base else Path.home() / ".sigstore" / "root"


def _mirror_dir(cache: Path, mirror: str) -> Path:
    return cache / quote(mirror.rstrip("/"), safe="")


def _tracing_fetcher() -> FetcherInterface:
    """python-tuf's own fetcher, remembering the last URL it was asked for: its download errors
    name neither the URL nor (for network failures) the cause."""
    from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher

    class Tracing(Urllib3Fetcher):
        url = ""

        def _fetch(self, url: str) -> Iterator[bytes]:
            self.url = url
            return super()._fetch(url)

    return Tracing()


def _reason(exc: BaseException, fetcher: FetcherInterface) -> str:
    """What failed, for a person: the URL tried and the innermost cause (``Connection refused``,
    ``Name or service not known``, ``HTTP 404``), not python-tuf's empty or generic message."""
    from tuf.api.exceptions import DownloadError, DownloadHTTPError

    url = getattr(fetcher, "url", "")
    if isinstance(exc, DownloadHTTPError):
        cause = f"HTTP {exc.status_code}"
    elif isinstance(exc, DownloadError):
        cause, seen = str(exc), exc.__cause__ or exc.__context__
        while seen is not None:  # urllib3's MaxRetryError → NewConnectionError → OSError
            cause = str(seen) or cause
            seen = seen.__cause__ or seen.__context__
        cause = cause or exc.__class__.__name__
    else:
        cause = str(exc) or exc.__class__.__name__
    if isinstance(exc, DownloadError) and url:
        return (f"GET {url} failed: {cause} (is the mirror URL right? it is the address the "
                "repository serves timestamp.json and N.root.json under)")  # fmt: skip
    return f"{cause} (while fetching {url})" if url else cause


def _check_root(root_json: bytes, name: str) -> None:
    """Refuse a file that is not TUF root metadata before anything is fetched or wiped, saying
    what it is instead (a trusted_root.json or trust config is the usual mix-up)."""
    from tuf.api.metadata import Metadata, Root

    try:
        doc = json.loads(root_json)
    except ValueError:
        doc = None
    media = str(doc.get("mediaType", "")) if isinstance(doc, dict) else ""
    expected = (
        "initialize --root expects the TUF repository's root.json (a JSON object with "
        '"signed" of _type "root" and "signatures"; `sigstack up` writes DATA/tuf/root.json)'
    )
    for kind, what, flag in (("trustedroot", "trusted root (trusted_root.json)", "--trusted-root"),
                             ("clienttrustconfig", "trust config", "--trust-config")):  # fmt: skip
        if kind in media:
            raise ValidationError(
                f"{name} is a Sigstore {what}, not TUF root metadata. {expected}. To trust "
                f"{name} as it is, skip initialize and pass {flag} {name} to the other commands"
            )
    try:
        md = Metadata.from_bytes(root_json)
    except Exception:  # noqa: BLE001 - python-tuf raises several kinds for a malformed file
        md = None
    if md is None or not isinstance(md.signed, Root):
        raise ValidationError(f"{name} is {'not JSON' if doc is None else 'not TUF root metadata'}. "
                              f"{expected}")  # fmt: skip


def _updater(
    mirror_dir: Path, mirror: str, bootstrap: bytes | None, fetcher: FetcherInterface | None = None
) -> Updater:
    from tuf.ngclient.updater import Updater

    meta = mirror_dir / "metadata"
    targets = mirror_dir / "targets"
    meta.mkdir(parents=True, exist_ok=True)
    targets.mkdir(parents=True, exist_ok=True)
    base = mirror.rstrip("/")
    return Updater(
        metadata_dir=str(meta),
        metadata_base_url=base + "/",
        target_dir=str(targets),
        target_base_url=base + "/targets/",
        fetcher=fetcher,
        bootstrap=bootstrap,
    )


def _fetch_targets(
    updater: Updater, mirror_dir: Path, required: tuple[str, ...]
) -> dict[str, TargetFile]:
    """Refresh, then download (or find cached) each target; returns name → verified TargetFile."""
    from tuf.api.exceptions import DownloadError, RepositoryError

    updater.refresh()
    got: dict[str, TargetFile] = {}
    for name in TARGETS:
        info = updater.get_targetinfo(name)
        if info is None:
            if name in required:
                raise ConfigError(f"the TUF repository does not publish {name}")
            continue
        path = mirror_dir / "targets" / name
        try:
            cached = updater.find_cached_target(info, str(path))
            if cached is None:
                updater.download_target(info, str(path))
        except (RepositoryError, DownloadError) as exc:
            raise ConfigError(f"TUF target {name} failed verification: {exc}") from None
        got[name] = info
    (mirror_dir / "last-refresh").write_text(str(int(time.time())))
    return got


def initialize(
    mirror: str,
    root_json: bytes,
    env: Mapping[str, str],
    fetcher: FetcherInterface | None = None,
    root_name: str = "the initial root",
) -> tuple[Path, list[str]]:
    """Trust ``root_json`` (read from ``root_name``) for ``mirror``; wipe and re-create its cache;
    fetch the targets."""
    from tuf.api.exceptions import DownloadError, RepositoryError

    _check_root(root_json, root_name)
    cache = cache_dir(env)
    mirror_dir = _mirror_dir(cache, mirror)
    if mirror_dir.exists():
        shutil.rmtree(mirror_dir)
    fetcher = fetcher or _tracing_fetcher()
    try:
        updater = _updater(mirror_dir, mirror, root_json, fetcher)
        got = _fetch_targets(updater, mirror_dir, required=("trusted_root.json",))
    except (RepositoryError, DownloadError, OSError, ValueError) as exc:
        raise ConfigError(f"TUF refresh from {mirror} failed: {_reason(exc, fetcher)}") from None
    (cache / "remote.json").write_text(json.dumps({"mirror": mirror}))
    return mirror_dir, list(got)


def _configured_mirror(opts: TrustOptions | None, cache: Path) -> str:
    if opts is not None and opts.staging:
        return STAGING
    remote = cache / "remote.json"
    try:
        mirror = json.loads(remote.read_text())["mirror"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValidationError(
            "no trust material: pass --trusted-root FILE or --trust-config FILE, set the "
            "SIGSTORE_* variables, or run `sigstack initialize --mirror URL --root root.json`"
        ) from None
    if not isinstance(mirror, str):
        raise ValidationError(f"{remote} is corrupt; run `sigstack initialize` again")
    return mirror


def cached_target(
    name: str,
    opts: TrustOptions | None,
    env: Mapping[str, str],
    fetcher: FetcherInterface | None = None,
) -> bytes:
    """The bytes of a TUF target from the cache, refreshed first when due (unless offline)."""
    cache = cache_dir(env)
    mirror = _configured_mirror(opts, cache)
    mirror_dir = _mirror_dir(cache, mirror)
    if not (mirror_dir / "metadata" / "root.json").exists():
        raise ValidationError(
            f"the TUF cache for {mirror} is empty; run `sigstack initialize --mirror {mirror} "
            "--root root.json`"
        )
    stamp = mirror_dir / "last-refresh"
    try:
        age = time.time() - int(stamp.read_text())
    except (OSError, ValueError):
        age = float("inf")
    info = None
    if not (opts is not None and opts.offline) and age > REFRESH_AFTER:
        from tuf.api.exceptions import DownloadError, RepositoryError

        fetcher = fetcher or _tracing_fetcher()
        try:
            got = _fetch_targets(_updater(mirror_dir, mirror, None, fetcher), mirror_dir, (name,))
        except (RepositoryError, DownloadError, OSError, ValueError) as exc:
            raise ConfigError(
                f"TUF refresh from {mirror} failed ({_reason(exc, fetcher)}); use --offline to "
                "rely on the cache"
            ) from None
        info = got.get(name)
    path = mirror_dir / "targets" / name
    try:
        data = path.read_bytes()
    except OSError:
        raise ValidationError(f"the TUF cache has no {name} for {mirror}") from None
    _verify_cached(mirror_dir, mirror, name, data, info)
    return data


def _verify_cached(
    mirror_dir: Path, mirror: str, name: str, data: bytes, info: TargetFile | None
) -> None:
    """``data`` has the length and hashes that the targets metadata records for ``name``: the
    TargetFile of a refresh just made (``info``), else the one in the cached metadata, after
    checking its chain of signatures and hashes from the cached root."""
    from tuf.api.exceptions import RepositoryError

    try:
        if info is None:
            info = _cached_targetinfo(mirror_dir / "metadata", name)
        info.verify_length_and_hashes(data)
    except (RepositoryError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"the cached {name} for {mirror} does not match the TUF metadata ({exc}); run "
            "`sigstack initialize` again, or verify online"
        ) from None


def _cached_targetinfo(meta: Path, name: str) -> TargetFile:
    """The TargetFile of ``name`` in the cached top-level targets metadata, once root → timestamp
    → snapshot → targets verified: signatures by the roles' keys in the cached root (which the
    updater wrote only after verifying it), the snapshot and targets files against the lengths,
    hashes and versions their parents record. Delegated targets are not searched."""
    from tuf.api.exceptions import RepositoryError
    from tuf.api.metadata import Metadata, Root, Snapshot, Targets, Timestamp

    def load(role: str, kind: type[_Role], delegator: Root) -> tuple[bytes, Metadata[_Role]]:
        raw = (meta / f"{role}.json").read_bytes()
        md: Metadata[_Role] = Metadata.from_bytes(raw)
        if not isinstance(md.signed, kind):
            raise RepositoryError(f"{role}.json holds {md.signed.type} metadata")
        delegator.verify_delegate(role, md.signed_bytes, md.signatures)
        return raw, md

    root_md = Metadata.from_bytes((meta / "root.json").read_bytes())
    if not isinstance(root_md.signed, Root):
        raise RepositoryError("root.json holds no root metadata")
    root = root_md.signed
    root.verify_delegate(Root.type, root_md.signed_bytes, root_md.signatures)
    _, timestamp = load(Timestamp.type, Timestamp, root)
    raw, snapshot = load(Snapshot.type, Snapshot, root)
    snapshot_meta = timestamp.signed.snapshot_meta
    snapshot_meta.verify_length_and_hashes(raw)
    if snapshot.signed.version != snapshot_meta.version:
        raise RepositoryError("snapshot.json is not the version timestamp.json names")
    raw, targets = load(Targets.type, Targets, root)
    targets_meta = snapshot.signed.meta["targets.json"]
    targets_meta.verify_length_and_hashes(raw)
    if targets.signed.version != targets_meta.version:
        raise RepositoryError("targets.json is not the version snapshot.json names")
    info = targets.signed.targets.get(name)
    if info is None:
        raise RepositoryError(f"the cached targets metadata does not list {name}")
    return info

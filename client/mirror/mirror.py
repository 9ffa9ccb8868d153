"""One mirror update, all or nothing: ``pull``/``update`` from URLs, and the core that
``bundle.import_bundle`` shares (``apply``).

An update takes the mirror's lock, stages a new generation (``layout``), refreshes the TUF part
first (``tufrepo``: a new trusted root may add a log or rotate a key), reads the trusted root
(TUF's ``trusted_root.json``, or the file given by hand), then brings every log it was asked
about up to its source (``logs``), writes the manifest and swaps the generation in. Any error
(a fork, a bad signature, expired TUF metadata, an unreachable source) discards the staged
generation: the live one is exactly as it was. Logs not named in a plan are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sigstack.protocol.errors import ConfigError, ValidationError
from sigstack.protocol.trust import TrustedRoot

from . import logs, tufrepo
from .layout import NAME, LogRecord, Manifest, MirrorDir, name_for, now, write_file
from .sources import HttpSource, Source

TRUST_FILE = "trust/trusted_root.json"


@dataclass(frozen=True)
class LogPlan:
    """A log to bring up to date: by ``name`` (one the mirror holds, or the name a new one gets;
    None: named after its origin), read from ``source``; ``url`` is recorded for later pulls."""

    name: str | None
    source: Source
    url: str | None = None


@dataclass(frozen=True)
class Plan:
    logs: tuple[LogPlan, ...] = ()
    tuf: Source | None = None
    tuf_base: str = "http://mirror.invalid/tuf/"
    tuf_url: str | None = None  # recorded for later pulls
    tuf_root: bytes | None = None  # the bootstrap root of a new TUF mirror
    trusted_root: bytes | None = None  # a trusted root given by hand (mirrors without TUF)
    trust: str | None = None  # what a new mirror's trust is: tuf | file


@dataclass
class Report:
    generation: Path | None = None
    tuf: tufrepo.TufOutcome | None = None
    logs: list[logs.Outcome] = field(default_factory=list)


def apply(mirror: MirrorDir, plan: Plan) -> Report:
    """Carry ``plan`` out in a staged generation and swap it in, or change nothing."""
    with mirror.locked():
        manifest = mirror.manifest()
        if manifest is None:
            mirror.check_new()
            manifest = Manifest(trust=_new_trust(plan))
        stage = mirror.stage()
        try:
            report, manifest = _apply(stage, manifest, plan)
            write_file(stage / "mirror.json", replace(manifest, updated=now()).to_bytes())
            report.generation = mirror.commit(stage)
        except BaseException:
            mirror.abort(stage)
            raise
    return report


def _new_trust(plan: Plan) -> str:
    if plan.trust:
        return plan.trust
    if plan.tuf is not None:
        return "tuf"
    if plan.trusted_root is not None:
        return "file"
    raise ConfigError("a new mirror needs its trust: the TUF repository (--tuf-mirror URL with "
                      "--tuf-root FILE) or a trusted root (--trusted-root FILE)")  # fmt: skip


def _apply(stage: Path, manifest: Manifest, plan: Plan) -> tuple[Report, Manifest]:
    report = Report()
    if manifest.trust == "tuf":
        if plan.trusted_root is not None:
            raise ConfigError("this mirror takes its trusted root from TUF, not from a file")
        if plan.tuf is not None:
            report.tuf = tufrepo.update_tuf(stage / "tuf", plan.tuf, plan.tuf_base, plan.tuf_root)
            manifest = replace(manifest, tuf_url=plan.tuf_url or manifest.tuf_url)
        elif plan.tuf_root is not None:
            raise ConfigError("a TUF root was given but nothing to read the repository from")
        root_bytes = tufrepo.trusted_root_bytes(stage / "tuf")
    else:
        if plan.tuf is not None or plan.tuf_root is not None:
            raise ConfigError("this mirror takes its trusted root from a file, not from TUF "
                              "(make a new mirror to follow a TUF repository)")  # fmt: skip
        if plan.trusted_root is not None:
            _parse_root(plan.trusted_root, "the trusted root given")
            write_file(stage / TRUST_FILE, plan.trusted_root)
        try:
            root_bytes = (stage / TRUST_FILE).read_bytes()
        except OSError:
            raise ConfigError(
                "the mirror holds no trusted root: give --trusted-root FILE"
            ) from None
    root = _parse_root(root_bytes, "the mirror's trusted root")
    seen: set[str] = set()
    for item in plan.logs:
        record, key, text = _resolve(manifest, root, item)
        if record.name in seen:
            raise ConfigError(f"log {record.name} is named twice")
        seen.add(record.name)
        outcome = logs.update_log(record, key, text, item.source, stage / "log" / record.name)
        report.logs.append(outcome)
        manifest = manifest.with_log(outcome.record)
    return report, manifest


def _parse_root(data: bytes, what: str) -> TrustedRoot:
    try:
        return TrustedRoot.from_json(data)
    except ValidationError as exc:
        raise ConfigError(f"{what} is not a Sigstore trusted root: {exc.message}") from None


def _resolve(manifest: Manifest, root: TrustedRoot,
             item: LogPlan) -> tuple[LogRecord, logs.LogKey, str]:  # fmt: skip
    """The record of the log ``item`` names (held, or new and identified by the trusted-root
    key that signs its checkpoint), its key, and the source's checkpoint."""
    text = logs.fetch_checkpoint(item.source)
    held = manifest.log(item.name) if item.name else None
    if held is None:
        key, checkpoint = logs.identify(text, root, item.url)
        held = next((r for r in manifest.logs if r.log_id == key.log_id
                     and r.origin == checkpoint.origin), None)  # fmt: skip
        if held is None:
            name = item.name or name_for(checkpoint.origin)
            if not NAME.fullmatch(name):
                raise ConfigError(f"{name!r} is not a log name (letters, digits, '.', '_', '-')")
            if manifest.log(name) is not None:
                raise ConfigError(f"the mirror has another log named {name}: give this one a "
                                  "name (NAME=URL)")  # fmt: skip
            return LogRecord(name, checkpoint.origin, key.log_id, item.url), key, text
        if item.name and item.name != held.name:
            raise ConfigError(f"{item.source.where} is the mirror's log {held.name}")
    key = logs.key_for(held, root)
    if item.url and item.url != held.url:
        held = replace(held, url=item.url)
    return held, key, text


def pull(
    directory: str | Path,
    *,
    logs_to_add: Sequence[tuple[str | None, str]] = (),
    tuf_url: str | None = None,
    tuf_root: bytes | None = None,
    trusted_root: bytes | None = None,
    timeout: float = 30.0,
) -> Report:
    """``sigstack mirror pull``/``update``: every log the mirror follows from its recorded URL,
    plus ``logs_to_add`` ((name or None, URL)), and TUF from ``tuf_url`` or the recorded one."""
    mirror = MirrorDir(directory)
    manifest = mirror.manifest()
    plans: dict[str, LogPlan] = {}
    for name, url in logs_to_add:
        plans[name or url] = LogPlan(name, HttpSource(url, timeout), url.rstrip("/"))
    given = {v for p in plans.values() for v in (p.url, p.name) if v}
    for record in manifest.logs if manifest else ():
        if record.name in given or record.url in given:
            continue
        if record.url is None:
            raise ConfigError(f"log {record.name} has no source URL: this mirror is fed by "
                              "`sigstack mirror import` (or pull it with `sigstack mirror pull "
                              f"--dir DIR --log {record.name}=URL`)")  # fmt: skip
        plans[record.name] = LogPlan(record.name, HttpSource(record.url, timeout), record.url)
    tuf_from = tuf_url or (manifest.tuf_url if manifest else None)
    if not plans and tuf_from is None:
        raise ConfigError("nothing to mirror: give --log URL and the trust (--tuf-mirror URL "
                          "--tuf-root FILE, or --trusted-root FILE)")  # fmt: skip
    tuf = HttpSource(tuf_from, timeout) if tuf_from else None
    plan = Plan(logs=tuple(plans.values()), tuf=tuf, tuf_url=tuf_from,
                tuf_base=tuf_from.rstrip("/") + "/" if tuf_from else "", tuf_root=tuf_root,
                trusted_root=trusted_root)  # fmt: skip
    return apply(mirror, plan)

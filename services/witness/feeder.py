"""A feeder: takes a log's checkpoint (its ``/checkpoint``, or the one in a bundle) to a witness,
with consistency proofs built from the log's published C2SP tlog-tiles, and returns the checkpoint
with the witness's cosignature appended (OmniWitness runs feeders the same way, for logs that do
not call witnesses themselves).

``sigstack witness feed`` is this, once: for logs that do not call witnesses (ours without a
``witness_policy`` call ``client.WitnessClient`` with proofs from their own tiles,
``services.tlog.witnessing``).

``TileProofs`` reads a tree of ``size`` leaves from ``<log>/tile/<L>/<N>[.p/<W>]`` (full tiles
and the partial ones of that size), each tile once, and answers RFC 6962 ``subtree(start, end)``
for ``protocol.merkle.consistency_proof``. A tile with the wrong length is refused. Nothing the log
says is trusted: the witness verifies the proof, and ``feed`` checks that the tiles reproduce the
checkpoint's root before sending.
"""

from __future__ import annotations

import json
from typing import Any

import urllib3

from sigstack.protocol import merkle, note, tiles
from sigstack.protocol.errors import ValidationError, VerificationError

from .client import Refused, WitnessClient

MAX_CHECKPOINT = 1 << 16


class TileProofs(tiles.TileReader):
    def __init__(self, http: urllib3.PoolManager, log_url: str, size: int, timeout: float) -> None:
        url = log_url.rstrip("/")

        def fetch(level: int, index: int, width: int) -> list[bytes]:
            data = _get(http, f"{url}/tile/{tiles.tile_path(level, index, width)}",
                        timeout, tiles.WIDTH * tiles.HASH)  # fmt: skip
            if len(data) != width * tiles.HASH:
                raise VerificationError(f"the log's tile {level}/{index} has the wrong length")
            return tiles.split_hashes(data, width)

        super().__init__(size, fetch)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return merkle.consistency_proof(old, new, self.subtree)


def _get(http: urllib3.PoolManager, url: str, timeout: float, limit: int) -> bytes:
    try:
        resp = http.request("GET", url, timeout=timeout, preload_content=False)
        data = resp.read(limit + 1, decode_content=True)
        resp.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        raise Refused(f"cannot read {url}: {exc}") from None
    if resp.status != 200:
        raise Refused(f"cannot read {url}: HTTP {resp.status}")
    if len(data) > limit:
        raise Refused(f"{url} answered more than {limit} bytes")
    return bytes(data)


def feed(
    log_url: str,
    witness: WitnessClient,
    signed: str | None = None,
    *,
    timeout: float = 10.0,
) -> str:
    """Have ``witness`` cosign ``signed`` (default: the log's current checkpoint); returns the
    checkpoint note with the cosignature line(s) appended."""
    http = urllib3.PoolManager(maxsize=4, retries=False)
    if signed is None:
        raw = _get(http, f"{log_url.rstrip('/')}/checkpoint", timeout, MAX_CHECKPOINT)
        try:
            signed = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("the log's checkpoint is not UTF-8 text") from None
    try:
        checkpoint = note.Checkpoint.from_text(note.SignedNote.from_text(signed).text)
    except ValidationError as exc:
        raise Refused(f"not a signed checkpoint: {exc.message}") from None
    tiles = TileProofs(http, log_url, checkpoint.size, timeout)
    if checkpoint.size and tiles.subtree(0, checkpoint.size) != checkpoint.root_hash:
        raise Refused("the log's tiles do not give the checkpoint's root hash")
    return signed + witness.submit(signed, tiles.consistency)


def cosign_bundle(bundle_json: bytes, log_url: str, witness: WitnessClient) -> bytes:
    """The bundle with its (single) log entry's checkpoint cosigned by ``witness``."""
    try:
        bundle: Any = json.loads(bundle_json)
        entries = bundle["verificationMaterial"]["tlogEntries"]
        if not isinstance(entries, list) or len(entries) != 1:
            raise ValidationError("the bundle must hold exactly one log entry")
        holder = entries[0]["inclusionProof"]["checkpoint"]
        signed = holder["envelope"]
        if not isinstance(signed, str):
            raise ValidationError("the checkpoint envelope is not text")
    except (ValueError, KeyError, TypeError):
        raise ValidationError(
            "the bundle has no log entry with an inclusion-proof checkpoint"
        ) from None
    holder["envelope"] = feed(log_url, witness, signed)
    return json.dumps(bundle, indent=2).encode() + b"\n"

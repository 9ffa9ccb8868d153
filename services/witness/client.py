"""The HTTP client side of C2SP tlog-witness: what a log (or a feeder) does to get a checkpoint
cosigned (witness-monitor spec section 5, Tessera's ``internal/witness``).

``WitnessClient(url, vkey).submit(note, proofs)`` POSTs ``add-checkpoint`` with the old size it
believes the witness holds (0 at first, then what the witness acknowledged), and on a 409 whose
``Content-Type`` is exactly ``text/x.tlog.size`` retries with the size the witness gave, building
the consistency proof from that size with ``proofs(old, new)`` (at most ``attempts`` tries). A
witness that reports a size larger than the checkpoint's has cosigned a bigger tree: that is final
(``Refused``), evidence of a fork or a rollback, never retried. The returned line(s) are accepted
only if they verify, with the witness's vkey, as a cosignature over this checkpoint.

Nothing here calls a log: the caller gives the signed checkpoint and the proof builder (a log from
its own tiles, ``services.tlog.witnessing``; ``feeder`` from a log's published tiles). ``Refused``
says why: ``status`` 0 when the witness did not answer, 200 when its answer was not a valid
cosignature, else the HTTP status it refused with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import urllib3

from sigstack.protocol import cosignature, note, vkeys
from sigstack.protocol.errors import Error, ValidationError, VerificationError

from . import request

SIZE_TYPE = "text/x.tlog.size"
MAX_ANSWER = 1 << 16

Proofs = Callable[[int, int], Sequence[bytes]]


class Refused(Error):
    """The witness did not cosign: ``status`` its HTTP status (0: no answer), ``size`` the size it
    holds when it said so (409)."""

    def __init__(self, message: str, status: int = 0, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


def _cosignature_verifier(vkey: str) -> note.NoteVerifier:
    verifier = vkeys.parse_vkey(vkey)
    if not isinstance(verifier, cosignature.CosignatureVerifier):
        raise ValidationError("a witness vkey must be of type 0x04 (an Ed25519 cosigning key)")
    return verifier


class WitnessClient:
    def __init__(
        self,
        url: str,
        vkey: str | None = None,
        *,
        timeout: float = 10.0,
        verifier: note.NoteVerifier | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.verifier = _cosignature_verifier(vkey) if vkey else verifier
        self.timeout = timeout
        self.known_size = 0  # what the witness last acknowledged (Tessera keeps it in memory)
        self._http = urllib3.PoolManager(maxsize=4, retries=False)

    def add_checkpoint(self, old: int, proof: Sequence[bytes], signed: str) -> str:
        """One POST; the cosignature line(s), or ``Refused``. A kept-alive connection the witness
        closed meanwhile (a log calls at intervals) is replaced once, never a timed-out request:
        the request is safe to repeat (a witness that took it answers 409 with its size)."""
        payload = request.build(old, proof, signed)
        for attempt in (1, 2):
            try:
                resp = self._http.request("POST", f"{self.url}/add-checkpoint", body=payload,
                                          timeout=self.timeout, preload_content=False)  # fmt: skip
                body = resp.read(MAX_ANSWER + 1, decode_content=False)
                resp.release_conn()
                break
            except urllib3.exceptions.ProtocolError as exc:
                if attempt == 2:
                    raise Refused(f"the witness at {self.url} did not answer: {exc}") from None
            except urllib3.exceptions.HTTPError as exc:
                raise Refused(f"the witness at {self.url} did not answer: {exc}") from None
        text = body[:MAX_ANSWER].decode("utf-8", "replace")
        if resp.status == 200:
            return text
        if resp.status == 409 and resp.headers.get("Content-Type") == SIZE_TYPE:
            size = text.strip()
            if not size.isascii() or not size.isdigit():
                raise Refused("the witness answered 409 without a size", 409)
            raise Refused(f"the witness holds size {size}", 409, int(size))
        reason = text.strip().splitlines()[0][:200] if text.strip() else "no reason given"
        raise Refused(f"the witness refused ({resp.status}): {reason}", resp.status)

    def submit(self, signed: str, proofs: Proofs, attempts: int = 3) -> str:
        """Get ``signed`` (a signed checkpoint note) cosigned; returns the verified line(s)."""
        try:
            checkpoint = note.Checkpoint.from_text(note.SignedNote.from_text(signed).text)
        except ValidationError as exc:
            raise Refused(f"not a signed checkpoint: {exc.message}") from None
        old = self.known_size if self.known_size <= checkpoint.size else 0
        for _ in range(attempts):
            proof = proofs(old, checkpoint.size) if 0 < old < checkpoint.size else []
            try:
                lines = self.add_checkpoint(old, proof, signed)
            except Refused as exc:
                if exc.size is None:
                    raise
                if exc.size > checkpoint.size:
                    raise Refused(
                        f"the witness has cosigned a larger tree ({exc.size} > {checkpoint.size}) "
                        "for this log: it cannot cosign this checkpoint (a fork or a rollback if "
                        "the log never published that size)",
                        409,
                        exc.size,
                    ) from None
                old = exc.size
                continue
            self._check(signed, lines)
            self.known_size = checkpoint.size
            return lines
        raise Refused(f"the witness's size kept changing ({attempts} attempts)", 409)

    def _check(self, signed: str, lines: str) -> None:
        if not lines.endswith("\n") or not lines.startswith("\u2014 "):
            raise Refused("the witness's answer is not signature lines", 200)
        if self.verifier is None:
            return
        try:
            opened = note.open_note(signed + lines, [self.verifier])
        except VerificationError as exc:
            raise Refused(
                f"the witness's cosignature does not verify: {exc.message}", 200
            ) from None
        if not any(s.key_id == self.verifier.key_id for s in opened.signatures):
            raise Refused("the witness answered without its cosignature", 200)

"""The body of a C2SP tlog-witness ``add-checkpoint`` request, parsed and built. Pure.

```
old <size of the last checkpoint the witness cosigned for the origin; 0 if none>\\n
<base64 RFC 6962 consistency-proof hash>\\n      (0 to 63 lines; none when old is 0)
\\n
<checkpoint: body, blank line, signature lines>
```

Parsing is exact: ``old`` in decimal without sign or leading zeros (at most 2^64 - 1), each proof
line the canonical base64 of 32 bytes, at most 63 of them, then the blank line; the rest is the
signed note, which the witness parses itself (``cosigner``). Everything malformed is a
``ValidationError`` (the witness answers 400). ``build`` makes the body a log (or a feeder) sends.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sigstack.protocol.errors import ValidationError

MAX_PROOF = 63  # C2SP tlog-witness; the Go witness client refuses to send more
_OLD = re.compile(r"old (0|[1-9][0-9]{0,19})")
_MAX_SIZE = (1 << 64) - 1


@dataclass(frozen=True)
class AddCheckpoint:
    old: int
    proof: tuple[bytes, ...]
    note: str  # the signed checkpoint, as sent


def _proof_hash(line: bytes) -> bytes:
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("a consistency proof line is not base64") from None
    if len(raw) != 32 or base64.b64encode(raw) != line:
        raise ValidationError("a consistency proof line must be the base64 of a 32-byte hash")
    return raw


def parse(body: bytes) -> AddCheckpoint:
    first, sep, rest = body.partition(b"\n")
    try:
        text = first.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    match = _OLD.fullmatch(text)
    if not sep or match is None or int(match.group(1)) > _MAX_SIZE:
        raise ValidationError("the body must start with the line 'old <size>'")
    proof: list[bytes] = []
    while True:
        line, sep, rest = rest.partition(b"\n")
        if not sep:
            raise ValidationError("the body has no blank line before the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF:
            raise ValidationError(f"a consistency proof has at most {MAX_PROOF} hashes")
        proof.append(_proof_hash(line))
    try:
        note = rest.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("the checkpoint is not UTF-8 text") from None
    if not note:
        raise ValidationError("the body holds no checkpoint")
    return AddCheckpoint(int(match.group(1)), tuple(proof), note)


def build(old: int, proof: Sequence[bytes], note: str) -> bytes:
    """The request body for ``note`` (a signed checkpoint) with the proof from ``old``."""
    if not 0 <= old <= _MAX_SIZE or len(proof) > MAX_PROOF or any(len(h) != 32 for h in proof):
        raise ValidationError("old size or consistency proof out of range")
    lines = [f"old {old}\n".encode()]
    lines += [base64.b64encode(h) + b"\n" for h in proof]
    return b"".join(lines) + b"\n" + note.encode()

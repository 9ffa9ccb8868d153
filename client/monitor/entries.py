"""What a log entry says about who signed what: its certificates, public keys and digests.

Entry bodies understood (the canonical bodies logs store, spec/rekor.md section 2 and 6):

* Rekor v1: ``hashedrekord`` 0.0.1 and ``rekord`` 0.0.1 (``spec.signature.publicKey.content``,
  base64 PEM; ``spec.data.hash``), ``dsse`` 0.0.1 (``spec.signatures[].verifier``;
  ``payloadHash``, ``envelopeHash``), ``intoto`` 0.0.1 (``spec.publicKey``) and 0.0.2
  (``spec.content.envelope.signatures[].publicKey``; ``content.hash``, ``payloadHash``);
* Rekor v2: ``hashedrekord`` 0.0.2 and ``dsse`` 0.0.2 (``verifier.x509Certificate`` or
  ``verifier.publicKey``, DER in base64; ``data.digest`` / ``payloadHash.digest``);
* RFC 6962 ``MerkleTreeLeaf`` (section 3.4): ``x509_entry`` (the certificate) and
  ``precert_entry`` (the TBSCertificate the log signed, read as a certificate by wrapping it in
  a certificate structure with an empty signature: what the leaf commits to, not the
  unauthenticated ``extra_data``).

A PEM verifier may be a certificate (its first block, the leaf, is kept) or a public key. Any other
kind, or a body that does not parse, gives ``Subjects`` with nothing in it and ``readable`` false:
the monitor counts it and goes on (a log may hold kinds this module does not know). In-toto
subject digests are not in logged bodies (Rekor drops the payload): only the payload and envelope
digests are. Digests are ``algorithm:hex`` with the algorithm in lower case (``sha256``).

Pure (stdlib; DER is ``der``'s); the matching is ``watch``'s.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from sigstack.protocol.errors import ValidationError
from sigstack.protocol.protojson import strict_b64decode

from .der import wrap_tbs

_ALGORITHMS = {"SHA2_256": "sha256", "SHA2_384": "sha384", "SHA2_512": "sha512"}


class Subjects(NamedTuple):
    """What one entry names (a NamedTuple: built once per entry of a scan, so it must be cheap)."""

    kind: str  # "hashedrekord/0.0.1", "x509_entry", ...
    certificates: tuple[bytes, ...] = ()  # DER; for a precert entry, the wrapped TBSCertificate
    keys: tuple[bytes, ...] = ()  # DER SubjectPublicKeyInfo of bare keys
    digests: tuple[str, ...] = ()
    readable: bool = True
    precert: bool = False


UNREADABLE = Subjects("unknown", readable=False)


# --- PEM and base64 -------------------------------------------------------------------------------


def _b64(value: Any) -> bytes | None:
    try:
        return strict_b64decode(value, "a base64 value")
    except ValidationError:
        return None


def _pem(value: Any) -> tuple[list[bytes], list[bytes]]:
    """(certificates, keys) in base64-encoded PEM text: the first certificate, or the keys."""
    raw = _b64(value)
    if raw is None:
        return [], []
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return [], []
    certs: list[bytes] = []
    keys: list[bytes] = []
    label: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            label, lines = line[11:-5], []
        elif line.startswith("-----END ") and label is not None:
            der = _b64("".join(lines))
            if der is not None and label == "CERTIFICATE" and not certs:
                certs.append(der)
            elif der is not None and label == "PUBLIC KEY":
                keys.append(der)
            label = None
        elif label is not None:
            lines.append(line)
    return certs, keys


def _hex_digest(obj: Any, algorithm_key: str = "algorithm", value_key: str = "value") -> list[str]:
    if not isinstance(obj, dict):
        return []
    alg, value = obj.get(algorithm_key), obj.get(value_key)
    if not isinstance(alg, str) or not isinstance(value, str) or not value:
        return []
    return [f"{alg.lower()}:{value.lower()}"]


def _raw_digest(obj: Any) -> list[str]:
    """A Rekor v2 ``{algorithm: SHA2_256, digest: base64}``."""
    if not isinstance(obj, dict):
        return []
    alg = _ALGORITHMS.get(obj.get("algorithm") or "SHA2_256")
    raw = _b64(obj.get("digest"))
    if alg is None or raw is None:
        return []
    return [f"{alg}:{raw.hex()}"]


def _v2_verifier(verifier: Any, certs: list[bytes], keys: list[bytes]) -> None:
    if not isinstance(verifier, dict):
        return
    for name, out in (("x509Certificate", certs), ("publicKey", keys)):
        holder = verifier.get(name)
        raw = _b64(holder.get("rawBytes")) if isinstance(holder, dict) else None
        if raw:
            out.append(raw)


def _dig(obj: Any, *path: str) -> Any:
    for name in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    return obj


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# --- bodies -------------------------------------------------------------------------------------


def from_rekor_body(body: bytes) -> Subjects:
    """The subjects of a Rekor v1 or v2 canonical entry body."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return UNREADABLE
    if not isinstance(obj, dict):
        return UNREADABLE
    kind, version, spec = obj.get("kind"), obj.get("apiVersion"), obj.get("spec")
    if not isinstance(kind, str) or not isinstance(version, str) or not isinstance(spec, dict):
        return UNREADABLE
    name = f"{kind}/{version}"
    reader = _READERS.get(name)
    if reader is None:
        return Subjects(name, readable=False)
    certs: list[bytes] = []
    keys: list[bytes] = []
    digests = reader(spec, certs, keys)
    return Subjects(name, tuple(certs), tuple(keys), tuple(dict.fromkeys(digests)))


def _add_pem(value: Any, certs: list[bytes], keys: list[bytes]) -> None:
    c, k = _pem(value)
    certs += c
    keys += k


def _hashedrekord_v1(spec: dict[str, Any], certs: list[bytes], keys: list[bytes]) -> list[str]:
    _add_pem(_dig(spec, "signature", "publicKey", "content"), certs, keys)
    return _hex_digest(_dig(spec, "data", "hash"))


def _dsse_v1(spec: dict[str, Any], certs: list[bytes], keys: list[bytes]) -> list[str]:
    for item in _list(spec.get("signatures")):
        _add_pem(_dig(item, "verifier"), certs, keys)
    return _hex_digest(spec.get("payloadHash")) + _hex_digest(spec.get("envelopeHash"))


def _intoto_v1(spec: dict[str, Any], certs: list[bytes], keys: list[bytes]) -> list[str]:
    _add_pem(spec.get("publicKey"), certs, keys)
    content = spec.get("content")
    return _hex_digest(_dig(content, "payloadHash")) + _hex_digest(_dig(content, "hash"))


def _intoto_v2(spec: dict[str, Any], certs: list[bytes], keys: list[bytes]) -> list[str]:
    content = spec.get("content")
    for item in _list(_dig(content, "envelope", "signatures")):
        _add_pem(_dig(item, "publicKey"), certs, keys)
    return _hex_digest(_dig(content, "payloadHash")) + _hex_digest(_dig(content, "hash"))


def _hashedrekord_v2(spec: dict[str, Any], certs: list[bytes], keys: list[bytes]) -> list[str]:
    inner = spec.get("hashedRekordV002")
    _v2_verifier(_dig(inner, "signature", "verifier"), certs, keys)
    return _raw_digest(_dig(inner, "data"))


def _dsse_v2(spec: dict[str, Any], certs: list[bytes], keys: list[bytes]) -> list[str]:
    inner = spec.get("dsseV002")
    for item in _list(_dig(inner, "signatures")):
        _v2_verifier(_dig(item, "verifier"), certs, keys)
    return _raw_digest(_dig(inner, "payloadHash"))


_READERS = {
    "hashedrekord/0.0.1": _hashedrekord_v1,
    "rekord/0.0.1": _hashedrekord_v1,
    "dsse/0.0.1": _dsse_v1,
    "intoto/0.0.1": _intoto_v1,
    "intoto/0.0.2": _intoto_v2,
    "hashedrekord/0.0.2": _hashedrekord_v2,
    "dsse/0.0.2": _dsse_v2,
}


def from_ct_leaf(leaf: bytes) -> Subjects:
    """The subjects of an RFC 6962 MerkleTreeLeaf (``leaf_input`` of get-entries)."""
    try:
        if len(leaf) < 12 or leaf[0] != 0 or leaf[1] != 0:  # v1, timestamped_entry
            raise ValueError("not a v1 timestamped entry")
        entry_type = int.from_bytes(leaf[10:12], "big")
        if entry_type == 0:
            n = int.from_bytes(leaf[12:15], "big")
            cert = leaf[15 : 15 + n]
            if len(cert) != n:
                raise ValueError("truncated certificate")
            return Subjects("x509_entry", (cert,))
        if entry_type == 1:
            n = int.from_bytes(leaf[44:47], "big")
            tbs = leaf[47 : 47 + n]
            if len(tbs) != n:
                raise ValueError("truncated TBSCertificate")
            return Subjects("precert_entry", (wrap_tbs(tbs),), precert=True)
    except ValueError:
        pass
    return Subjects("ct_entry", readable=False)

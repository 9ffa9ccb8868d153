"""``pkcs11:`` keys (RFC 7512 URIs) through python-pkcs11: EC keys held in an HSM.

URI: ``pkcs11:token=LABEL;object=KEYLABEL?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-env=VAR``.
Path attributes (``;``-separated, percent-decoded): ``token`` (token label, required), ``object``
(key label, required), ``id`` (optional CKA_ID, percent-encoded bytes). Query attributes:
``module-path`` (the PKCS#11 module; required), ``pin-value`` (RFC 7512; development only, it ends up
on command lines) or ``pin-env`` (name of an environment variable holding the PIN; preferred).

``load`` returns a ``Signer`` whose ``private_key`` is ``Pkcs11ECKey``, a subclass of
``cryptography``'s ``EllipticCurvePrivateKey`` that hashes locally and has the HSM sign the digest
(``CKM_ECDSA``; the raw r||s answer is DER-encoded), so certificate and CSR builders accept it.
The private half never leaves the token. ``generate`` creates a new key pair on the token (``sigstack
ca create --hsm``). One session per process, guarded by a lock; opened lazily, so gunicorn workers
forked after start each get their own.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.utils import Buffer

from sigstack.protocol.errors import ConfigError

from .signer import Signer

CURVES = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp521r1": ec.SECP521R1}
_LIBS: dict[str, Any] = {}
_SESSIONS: dict[tuple[str, str], tuple[Any, threading.Lock]] = {}
_LIBS_LOCK = threading.Lock()


def parse_uri(uri: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Split an RFC 7512 URI into token, object, id, module path and PIN."""
    body = uri.partition(":")[2]
    path, _, query = body.partition("?")
    attrs: dict[str, str] = {}
    for part in filter(None, path.split(";")):
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"malformed pkcs11 URI attribute {name!r}")
        attrs[name] = value
    q: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        name, _, value = part.partition("=")
        q[name] = unquote(value)
    if "token" not in attrs or "object" not in attrs:
        raise ConfigError("a pkcs11 key URI needs token= and object=")
    if "module-path" not in q:
        raise ConfigError("a pkcs11 key URI needs ?module-path=")
    pin = q.get("pin-value")
    if "pin-env" in q:
        if q["pin-env"] not in environ:
            raise ConfigError(f"PIN variable {q['pin-env']} is not set")
        pin = environ[q["pin-env"]]
    return {
        "token": unquote(attrs["token"]),
        "object": unquote(attrs["object"]),
        "id": unquote(attrs["id"]).encode("latin-1") if "id" in attrs else None,
        "module": q["module-path"],
        "pin": pin,
    }


def _open(params: Mapping[str, Any]) -> tuple[Any, threading.Lock]:
    """The process's logged-in session on the token (PKCS#11 logins are per token and process)."""
    import pkcs11

    with _LIBS_LOCK:
        cached = _SESSIONS.get((params["module"], params["token"]))
        if cached is not None:
            return cached
        lib = _LIBS.get(params["module"])
        if lib is None:
            try:
                lib = pkcs11.lib(params["module"])
            except (RuntimeError, OSError, pkcs11.PKCS11Error) as exc:
                raise ConfigError(f"cannot load PKCS#11 module {params['module']}") from exc
            _LIBS[params["module"]] = lib
        try:
            token = lib.get_token(token_label=params["token"])
            session = token.open(user_pin=params["pin"], rw=True)
        except pkcs11.NoSuchToken as exc:
            raise ConfigError(f"no PKCS#11 token labelled {params['token']!r}") from exc
        except pkcs11.PKCS11Error as exc:
            name = type(exc).__name__
            raise ConfigError(f"cannot open PKCS#11 token {params['token']!r}: {name}") from exc
        _SESSIONS[(params["module"], params["token"])] = (session, threading.Lock())
        return _SESSIONS[(params["module"], params["token"])]


def _find(session: Any, params: Mapping[str, Any], object_class: Any) -> Any:
    import pkcs11
    from pkcs11 import Attribute

    query = {Attribute.CLASS: object_class, Attribute.LABEL: params["object"]}
    if params["id"] is not None:
        query[Attribute.ID] = params["id"]
    found = list(session.get_objects(query))
    if len(found) != 1:
        what = "private" if object_class == pkcs11.ObjectClass.PRIVATE_KEY else "public"
        raise ConfigError(
            f"expected one {what} key labelled {params['object']!r}, found {len(found)}"
        )
    return found[0]


class Pkcs11ECKey(ec.EllipticCurvePrivateKey):
    """An EC private key in a PKCS#11 token, usable by ``cryptography``'s builders."""

    def __init__(
        self, private: Any, public: ec.EllipticCurvePublicKey, lock: threading.Lock
    ) -> None:
        self._private = private
        self._public = public
        self._lock = lock

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        import pkcs11
        from pkcs11.util.ec import encode_ecdsa_signature

        if not isinstance(signature_algorithm, ec.ECDSA):
            raise ValueError("only ECDSA signatures are supported by a PKCS#11 EC key")
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, Prehashed):
            digest = bytes(data)
        else:
            h = hashes.Hash(algorithm)
            h.update(data)
            digest = h.finalize()
        with self._lock:
            raw = self._private.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
        return encode_ecdsa_signature(raw)

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise UnsupportedAlgorithm("ECDH is not offered by the PKCS#11 signer")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise UnsupportedAlgorithm("the private key never leaves the HSM")

    def private_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        raise UnsupportedAlgorithm("the private key never leaves the HSM")

    def __copy__(self) -> Pkcs11ECKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> Pkcs11ECKey:
        return self


def _public_from_token(public: Any) -> ec.EllipticCurvePublicKey:
    from pkcs11.util.ec import encode_ec_public_key

    key = serialization.load_der_public_key(encode_ec_public_key(public))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ConfigError("the PKCS#11 key is not an EC key")
    return key


def load(uri: str, rest: str, query: Mapping[str, list[str]], environ: Mapping[str, str]) -> Signer:
    """Open the EC key pair named by ``uri`` (see module docstring)."""
    import pkcs11

    params = parse_uri(uri, environ)
    session, lock = _open(params)
    with lock:
        private = _find(session, params, pkcs11.ObjectClass.PRIVATE_KEY)
        public = _public_from_token(_find(session, params, pkcs11.ObjectClass.PUBLIC_KEY))
    return Signer(Pkcs11ECKey(private, public, lock), uri)


def generate(
    uri: str, curve: str = "secp256r1", environ: Mapping[str, str] | None = None
) -> Signer:
    """Create a new EC key pair on the token named by ``uri``; refuses if the label is taken."""
    if curve not in CURVES:
        raise ConfigError(f"unsupported curve {curve}; choose one of {', '.join(CURVES)}")
    params = parse_uri(uri, environ or {})
    session, lock = _open(params)
    with lock:
        _generate(session, params, curve)
    return load(uri, "", {}, environ or {})


def _generate(session: Any, params: Mapping[str, Any], curve: str) -> None:
    import pkcs11
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    taken = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                      Attribute.LABEL: params["object"]}))  # fmt: skip
    if taken:
        raise ConfigError(f"the token already holds a key labelled {params['object']!r}")
    domain = session.create_domain_parameters(
        KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
    )
    extra = {Attribute.ID: params["id"]} if params["id"] is not None else {}
    domain.generate_keypair(
        store=True,
        label=params["object"],
        mechanism=pkcs11.Mechanism.EC_KEY_PAIR_GEN,
        public_template=extra,
        private_template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False, **extra},
    )

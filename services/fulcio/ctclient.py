"""RFC 6962 HTTP client Fulcio uses to log precertificates (fulcio.md section 6.1).

``add_pre_chain(chain)`` / ``add_chain(chain)`` POST ``{"chain": [base64 DER, ...]}`` and return the
parsed SCT. Like certificate-transparency-go's client, 408/429/503 answers and transport errors are
retried with backoff (honouring ``Retry-After``) until ``deadline`` seconds have passed; each attempt
has its own ``timeout``. Any other non-200 answer, or an SCT that does not verify under the
configured log key, is a 500 "Error entering certificate in CTL" for the caller; so is an answer
that is not strict JSON or whose timestamp is not a uint64 (the log is ours, its answer still input).
"""

from __future__ import annotations

import base64
import json
import time

import urllib3
from cryptography import x509

from sigstack.protocol import keys, strictjson
from sigstack.protocol import sct as ctsct
from sigstack.protocol.errors import ValidationError, VerificationError

from .errors import MSG_CT, server_error

RETRY_STATUSES = (408, 429, 503)
MAX_ANSWER = 1 << 20  # an AddChainResponse is a few hundred bytes; anything over 1 MiB is refused


class CTClient:
    def __init__(
        self,
        base_url: str,
        *,
        public_key: keys.PublicKey | None = None,
        timeout: float = 30.0,
        deadline: float = 60.0,
        verify_tls: str | bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.public_key = public_key
        self.log_id = ctsct.log_id(public_key) if public_key is not None else b""
        self.timeout = timeout
        self.deadline = deadline
        # urllib3 keeps connections alive per host and is thread-safe; it never retries here, so
        # a POST the log may have acted on is not sent twice behind our back (retries below are
        # the CT protocol's, for answers that say the log did not act).
        cert_reqs = "CERT_NONE" if verify_tls is False else "CERT_REQUIRED"
        ca_certs = verify_tls if isinstance(verify_tls, str) else None
        self._http = urllib3.PoolManager(maxsize=16, retries=False, cert_reqs=cert_reqs,
                                         ca_certs=ca_certs)  # fmt: skip
        self._issuer_hashes: dict[bytes, bytes] = {}  # issuer DER -> SHA-256 of its key

    def _post(self, path: str, chain: list[bytes]) -> ctsct.SignedCertificateTimestamp:
        url = f"{self.base_url}/ct/v1/{path}"
        body = json.dumps({"chain": [base64.b64encode(c).decode() for c in chain]}).encode()
        headers = {"Content-Type": "application/json"}
        stop = time.monotonic() + self.deadline
        delay = 0.05
        while True:
            retry_after = ""  # a transport error leaves none: wait the backoff's delay
            try:
                status, answer, retry_after = self._request(url, body, headers)
                if status == 200:
                    return _parse_sct(answer)
                if status not in RETRY_STATUSES:
                    text = answer[:500].decode("utf-8", "replace")
                    raise server_error(MSG_CT, f"{url} answered {status}: {text}")
                problem = f"{url} answered {status}"
            except urllib3.exceptions.HTTPError as exc:
                problem = f"{url}: {type(exc).__name__}"
            except (ValueError, ValidationError) as exc:
                raise server_error(MSG_CT, f"{url} answered a malformed SCT: {exc}") from exc
            wait = delay
            if retry_after.isascii() and retry_after.isdigit():
                wait = float(retry_after)
            if time.monotonic() + wait > stop:
                raise server_error(MSG_CT, f"giving up: {problem}")
            time.sleep(wait)
            delay = min(delay * 2, 2.0)

    def _request(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes, str]:
        """POST; (status, at most MAX_ANSWER bytes of the answer, its Retry-After or '')."""
        resp = self._http.request("POST", url, body=body, headers=headers, timeout=self.timeout,
                                  preload_content=False, redirect=False)  # fmt: skip
        answer = b""  # a transport error while reading leaves none, and the connection is released
        try:
            answer = resp.read(MAX_ANSWER + 1)
            if len(answer) > MAX_ANSWER:
                raise ValueError(f"the answer is larger than {MAX_ANSWER} bytes")
            return resp.status, answer, resp.headers.get("retry-after", "")
        finally:
            resp.release_conn() if len(answer) <= MAX_ANSWER else resp.drain_conn()

    def add_pre_chain(self, chain: list[bytes]) -> ctsct.SignedCertificateTimestamp:
        """Log ``[precert, issuer, ..., root]`` (DER); verify the SCT if the log key is known."""
        sct = self._post("add-pre-chain", chain)
        if self.public_key is not None:
            precert = x509.load_der_x509_certificate(chain[0])
            issuer_key_hash = self._issuer_hashes.get(chain[1])
            if issuer_key_hash is None:
                issuer = x509.load_der_x509_certificate(chain[1])
                issuer_key_hash = keys.key_id(issuer.public_key())
                if len(self._issuer_hashes) < 64:
                    self._issuer_hashes[chain[1]] = issuer_key_hash
            tbs = ctsct.strip_extension_from_tbs(precert.tbs_certificate_bytes)
            data = ctsct.precert_signed_data(sct.timestamp, issuer_key_hash, tbs, sct.extensions)
            self._check(sct, data)
        return sct

    def add_chain(self, chain: list[bytes]) -> ctsct.SignedCertificateTimestamp:
        sct = self._post("add-chain", chain)
        if self.public_key is not None:
            self._check(sct, ctsct.x509_signed_data(sct.timestamp, chain[0], sct.extensions))
        return sct

    def _check(self, sct: ctsct.SignedCertificateTimestamp, data: bytes) -> None:
        if sct.log_id != self.log_id:
            raise server_error(MSG_CT, "SCT log id is not the configured CT log's")
        try:
            sct.verify(self.public_key, data)
        except VerificationError as exc:
            raise server_error(MSG_CT, f"SCT from the CT log does not verify: {exc}") from exc


def _parse_sct(body: bytes) -> ctsct.SignedCertificateTimestamp:
    """An ``AddChainResponse`` read strictly (``ValueError``/``ValidationError`` otherwise): strict
    JSON, and a ``timestamp`` that is an integer in uint64 range, since ``from_json`` would take
    ``1.5`` or ``"7"`` and a value out of range fails only later, while encoding the SCT list."""
    obj = strictjson.loads(body, "the CT log's answer")
    timestamp = obj.get("timestamp") if isinstance(obj, dict) else None
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise ValueError("the SCT timestamp is not an integer")
    if not 0 <= timestamp < 1 << 64:
        raise ValueError("the SCT timestamp is out of range")
    return ctsct.SignedCertificateTimestamp.from_json(obj)

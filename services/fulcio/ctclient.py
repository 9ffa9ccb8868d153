"""RFC 6962 HTTP client Fulcio uses to log precertificates (fulcio.md section 6.1).

``add_pre_chain(chain)`` / ``add_chain(chain)`` POST ``{"chain": [base64 DER, ...]}`` and return the
parsed SCT. Like certificate-transparency-go's client, 408/429/503 answers and transport errors are
retried with backoff (honouring ``Retry-After``) until ``deadline`` seconds have passed; each attempt
has its own ``timeout``. Any other non-200 answer, or an SCT that does not verify under the
configured log key, is a 500 "Error entering certificate in CTL" for the caller.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import urllib3
from cryptography import x509

from protocol import sct as ctsct
from protocol.errors import ValidationError, VerificationError

from .errors import MSG_CT, server_error

RETRY_STATUSES = (408, 429, 503)


class CTClient:
    def __init__(
        self,
        base_url: str,
        *,
        public_key: Any = None,
        timeout: float = 30.0,
        deadline: float = 60.0,
        verify_tls: str | bool = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.public_key = public_key
        self.timeout = timeout
        self.deadline = deadline
        tls: dict[str, Any] = {}
        if isinstance(verify_tls, str):
            tls["ca_certs"] = verify_tls
        elif not verify_tls:
            tls["cert_reqs"] = "CERT_NONE"
        # urllib3 directly: thread-safe keep-alive pool, far less CPU per call than requests.
        self._pool = urllib3.PoolManager(maxsize=64, retries=False, **tls)

    def _post(self, path: str, chain: list[bytes]) -> ctsct.SignedCertificateTimestamp:
        url = f"{self.base_url}/ct/v1/{path}"
        body = json.dumps({"chain": [base64.b64encode(c).decode() for c in chain]}).encode()
        headers = {"Content-Type": "application/json"}
        stop = time.monotonic() + self.deadline
        delay = 0.05
        while True:
            retry_after = None
            try:
                resp = self._pool.request(
                    "POST", url, body=body, headers=headers, timeout=self.timeout
                )
                if resp.status == 200:
                    return ctsct.SignedCertificateTimestamp.from_json(json.loads(resp.data))
                if resp.status not in RETRY_STATUSES:
                    text = resp.data[:500].decode("utf-8", "replace")
                    raise server_error(MSG_CT, f"{url} answered {resp.status}: {text}")
                retry_after = resp.headers.get("Retry-After")
                problem = f"{url} answered {resp.status}"
            except urllib3.exceptions.HTTPError as exc:
                problem = f"{url}: {exc}"
            except (ValueError, ValidationError) as exc:
                raise server_error(MSG_CT, f"{url} answered a malformed SCT: {exc}") from exc
            wait = delay
            if retry_after and retry_after.isdigit():
                wait = float(retry_after)
            if time.monotonic() + wait > stop:
                raise server_error(MSG_CT, f"giving up: {problem}")
            time.sleep(wait)
            delay = min(delay * 2, 2.0)

    def add_pre_chain(self, chain: list[bytes]) -> ctsct.SignedCertificateTimestamp:
        """Log ``[precert, issuer, ..., root]`` (DER); verify the SCT if the log key is known."""
        sct = self._post("add-pre-chain", chain)
        if self.public_key is not None:
            precert = x509.load_der_x509_certificate(chain[0])
            issuer = x509.load_der_x509_certificate(chain[1])
            issuer_key_hash = hashlib.sha256(_spki(issuer)).digest()
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
        if sct.log_id != ctsct.log_id(self.public_key):
            raise server_error(MSG_CT, "SCT log id is not the configured CT log's")
        try:
            sct.verify(self.public_key, data)
        except VerificationError as exc:
            raise server_error(MSG_CT, f"SCT from the CT log does not verify: {exc}") from exc


def _spki(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

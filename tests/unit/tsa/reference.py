"""The reference answer: the same TimeStampResp built the plain asn1crypto way, from native
values (dicts), with the serial number, times and signature of a given answer. The TSA builds
its answers from DER parts for speed (services/tsa/authority.py); the tests require the two to
be byte-identical."""

from __future__ import annotations

from typing import Any

from asn1crypto import cms, tsp
from asn1crypto import x509 as ax509


def rebuild(
    answer: bytes, request_imprint: bytes, leaf_der: bytes, certificates: list[bytes] | None
) -> bytes:
    """Rebuild ``answer`` from the values it states (see module docstring)."""
    resp = tsp.TimeStampResp.load(answer)
    signed_data = resp["time_stamp_token"]["content"]
    tst = signed_data["encap_content_info"]["content"].parsed
    signer = signed_data["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    leaf = ax509.Certificate.load(leaf_der)
    info: dict[str, Any] = {
        "version": "v1",
        "policy": tst["policy"].dotted,
        "message_imprint": tsp.MessageImprint.load(request_imprint),
        "serial_number": tst["serial_number"].native,
        "gen_time": tst["gen_time"].native,
        "accuracy": {"seconds": tst["accuracy"]["seconds"].native},
        "tsa": {"directory_name": leaf.subject},
    }
    if tst["nonce"].native is not None:
        info["nonce"] = tst["nonce"].native
    tst_info = tsp.TSTInfo(info)
    ess = attrs["signing_certificate_v2"]["certs"][0]
    cert_id: dict[str, Any] = {
        "cert_hash": ess["cert_hash"].native,
        "issuer_serial": {
            "issuer": [ax509.GeneralName({"directory_name": leaf.issuer})],
            "serial_number": leaf.serial_number,
        },
    }
    if ess["hash_algorithm"]["algorithm"].native != "sha256":
        cert_id["hash_algorithm"] = {
            "algorithm": ess["hash_algorithm"]["algorithm"].native,
            "parameters": None,
        }
    digest_name = signer["digest_algorithm"]["algorithm"].native
    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {"type": "signing_time", "values": [attrs["signing_time"]]},
            {"type": "message_digest", "values": [attrs["message_digest"].native]},
            {
                "type": "signing_certificate_v2",
                "values": [tsp.SigningCertificateV2({"certs": [cert_id]})],
            },
        ]
    )
    content: dict[str, Any] = {
        "version": "v3",
        "digest_algorithms": [{"algorithm": digest_name, "parameters": None}],
        "encap_content_info": {"content_type": "tst_info", "content": tst_info},
        "signer_infos": [
            {
                "version": "v1",
                "sid": {
                    "issuer_and_serial_number": {
                        "issuer": leaf.issuer,
                        "serial_number": leaf.serial_number,
                    }
                },
                "digest_algorithm": {"algorithm": digest_name, "parameters": None},
                "signed_attrs": signed_attrs,
                "signature_algorithm": {
                    "algorithm": signer["signature_algorithm"]["algorithm"].native
                },
                "signature": signer["signature"].native,
            }
        ],
    }
    if certificates is not None:
        content["certificates"] = [
            cms.CertificateChoices({"certificate": ax509.Certificate.load(c)}) for c in certificates
        ]
    resp = tsp.TimeStampResp(
        {
            "status": {"status": "granted"},
            "time_stamp_token": {"content_type": "signed_data", "content": content},
        }
    )
    return bytes(resp.dump())

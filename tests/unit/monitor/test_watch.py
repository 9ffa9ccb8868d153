"""``client.monitor.watch``: the rules, what they match in certificates, keys and digests, and the
configuration errors they refuse."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography import x509

from sigstack.client.monitor.entries import Subjects, from_ct_leaf
from sigstack.client.monitor.watch import WatchList, certificate_facts
from sigstack.protocol import x509ext
from sigstack.protocol.errors import ValidationError
from tests.unit.monitor.certs import key, leaf, precert_leaf_input, spki

ISSUER = "https://issuer.example"
WORKFLOW = "https://github.com/org/app/.github/workflows/ci.yml@refs/heads/main"


def _cert(*sans: x509.GeneralName, **ext: str) -> Subjects:
    return Subjects("hashedrekord/0.0.1", (leaf(*sans, **ext),))


def _rules(watch: WatchList, subjects: Subjects) -> list[dict[str, Any]]:
    return watch.match(subjects)[0]


def test_identity_exact_and_anchored_regexp_with_issuer() -> None:
    watch = WatchList.from_json({"identities": [
        {"identity": "a@example.com", "issuer": ISSUER},
        {"identity_regexp": r"https://github\.com/org/.*", "issuer_regexp": r"https://iss.*"},
    ]})  # fmt: skip
    email = x509.RFC822Name
    assert _rules(watch, _cert(email("a@example.com"), issuer=ISSUER)) == [
        {"rule": "identity", "identity": "a@example.com", "issuer": ISSUER}]  # fmt: skip
    assert _rules(watch, _cert(email("a@example.com"), issuer="https://other")) == []
    assert _rules(watch, _cert(email("a@example.com"))) == []  # no issuer at all
    assert _rules(watch, _cert(email("xa@example.com"), issuer=ISSUER)) == []
    uri = x509.UniformResourceIdentifier
    assert len(_rules(watch, _cert(uri(WORKFLOW), issuer=ISSUER))) == 1
    assert _rules(watch, _cert(uri("https://x/" + WORKFLOW), issuer=ISSUER)) == []  # anchored
    assert _rules(watch, _cert(uri(WORKFLOW), issuer="x" + ISSUER)) == []
    # the old issuer extension (.1.1) counts when .1.8 is absent; a second SAN is looked at too
    old = _cert(x509.DNSName("host.example"), email("a@example.com"), issuer_v1=ISSUER)
    assert len(_rules(watch, old)) == 1


def test_issuer_only_rules_and_username_sans() -> None:
    watch = WatchList.from_json({"identities": [{"issuer": ISSUER},
                                                {"identity": "sub!example.com"}]})  # fmt: skip
    assert [r["rule"] for r in _rules(watch, _cert(x509.RFC822Name("z@x"), issuer=ISSUER))] == [
        "identity"]  # fmt: skip
    other = _cert(x509ext.username_san("sub!example.com"), issuer="https://elsewhere")
    assert _rules(watch, other) == [{"rule": "identity", "identity": "sub!example.com"}]
    regexp_issuer = WatchList.from_json({"identities": [{"issuer_regexp": "https://iss.*"}]})
    assert len(_rules(regexp_issuer, _cert(x509.RFC822Name("z@x"), issuer=ISSUER))) == 1


def test_extensions_by_name_and_by_oid_der_and_raw() -> None:
    watch = WatchList.from_json({"extensions": [
        {"name": "source_repository_uri", "value": "https://github.com/org/repo"},
        {"oid": "1.3.6.1.4.1.57264.1.6", "values": ["refs/heads/main", "refs/heads/rel"]},
        {"oid": "1.2.3.4", "value": "custom"},
    ]})  # fmt: skip
    email = x509.RFC822Name("a@example.com")
    hit = _rules(watch, _cert(email, source_repository_uri="https://github.com/org/repo"))
    assert hit == [{"rule": "extension", "oid": "1.3.6.1.4.1.57264.1.12",
                    "name": "source_repository_uri", "value": "https://github.com/org/repo"}]  # fmt: skip
    assert len(_rules(watch, _cert(email, github_workflow_ref="refs/heads/rel"))) == 1  # raw
    assert _rules(watch, _cert(email, github_workflow_ref="refs/heads/other")) == []
    custom = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x16\x06custom")
    assert len(_rules(watch, Subjects("k", (leaf(email, extra=[custom]),)))) == 1  # IA5String


def test_fingerprints_of_keys_certificates_and_precertificates() -> None:
    k = key()
    cert = leaf(x509.RFC822Name("a@example.com"), k=k)
    key_fp = hashlib.sha256(spki(k)).hexdigest()
    cert_fp = hashlib.sha256(cert).hexdigest()
    watch = WatchList.from_json({"fingerprints": [key_fp.upper(), f"sha256:{cert_fp}"]})
    assert _rules(watch, Subjects("k", keys=(spki(k),))) == [{"rule": "fingerprint",
                                                              "key_sha256": key_fp}]  # fmt: skip
    assert _rules(watch, Subjects("c", (cert,))) == [
        {"rule": "fingerprint", "sha256": cert_fp},
        {"rule": "fingerprint", "key_sha256": key_fp},
    ]
    pre = from_ct_leaf(precert_leaf_input(leaf(x509.RFC822Name("a@x"), k=k, precert=True)))
    rules, facts = watch.match(pre)
    assert rules == [{"rule": "fingerprint", "key_sha256": key_fp}]
    assert facts[0].fingerprint is None and facts[0].key_fingerprint == key_fp


def test_digests() -> None:
    value = hashlib.sha256(b"x").hexdigest()
    watch = WatchList.from_json({"digests": [value.upper(), "sha512:" + "ab" * 64]})
    assert _rules(watch, Subjects("k", digests=(f"sha256:{value}",))) == [
        {"rule": "digest", "digest": f"sha256:{value}"}]  # fmt: skip
    assert _rules(watch, Subjects("k", digests=("sha384:" + value + "00" * 16,))) == []


def test_exact_rules_skip_certificates_without_their_values() -> None:
    """The byte search before parsing is only an optimisation: same answers either way."""
    exact = WatchList.from_json({"identities": [{"identity": "a@example.com"}]})
    regexp = WatchList.from_json({"identities": [{"identity_regexp": "a@example\\.com"}]})
    for der in (leaf(x509.RFC822Name("a@example.com")), leaf(x509.RFC822Name("b@example.com")),
                b"\x30\x03garbage a@example.com"):  # fmt: skip
        subjects = Subjects("k", (der,))
        assert len(_rules(exact, subjects)) == len(_rules(regexp, subjects))
    assert exact._needles == (b"a@example.com",) and regexp._needles is None


def test_certificate_facts() -> None:
    k = key()
    der = leaf(x509.RFC822Name("a@example.com"), x509.UniformResourceIdentifier("https://u"), k=k,
               issuer=ISSUER)  # fmt: skip
    facts = certificate_facts(der).to_json()
    assert facts == {"identities": ["a@example.com", "https://u"], "issuer": ISSUER,
                     "sha256": hashlib.sha256(der).hexdigest(),
                     "key_sha256": hashlib.sha256(spki(k)).hexdigest()}  # fmt: skip
    assert certificate_facts(b"junk").to_json() == {"identities": [], "issuer": None,
        "sha256": hashlib.sha256(b"junk").hexdigest(), "key_sha256": None}  # fmt: skip


@pytest.mark.parametrize("config", [
    [], {"identities": {}}, {"identities": [{}]}, {"identities": [{"identity": ""}]},
    {"identities": [{"identity": "a", "identity_regexp": "a"}]},
    {"identities": [{"issuer": "a", "issuer_regexp": "a"}]},
    {"identities": [{"identity_regexp": "("}]}, {"identities": [{"subject": "a"}]},
    {"identities": ["a@example.com"]}, {"extensions": [{"name": "nope", "value": "x"}]},
    {"extensions": [{"oid": "1.2.3", "name": "issuer", "value": "x"}]},
    {"extensions": [{"oid": "1..2", "value": "x"}]}, {"extensions": [{"oid": "1.2.3"}]},
    {"extensions": [{"oid": "1.2.3", "values": [""]}]}, {"fingerprints": ["abc"]},
    {"fingerprints": [7]}, {"digests": ["sha256:xyz"]}, {"digests": ["12345"]},
    {"unknown": []},
])  # fmt: skip
def test_bad_rules_are_refused(config: Any) -> None:
    with pytest.raises(ValidationError):
        WatchList.from_json(config)


def test_an_empty_watch_list_is_false() -> None:
    assert not WatchList.from_json(None) and not WatchList.from_json({})
    assert WatchList.from_json({"digests": ["ab" * 32]})

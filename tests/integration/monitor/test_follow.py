"""``sigstack monitor`` following real logs: Rekor v1 (API and tiles), Rekor v2 (tiles) and the CT
log, started as ``sigstack serve`` processes, with entries of every kind written to them.

The first run reports exactly the watched entries (identity exact and anchored regexp with the
issuer, Sigstore extensions by name and by OID, key fingerprints, artifact digests), a second run
reads nothing again, entries written later are found by the next run, alerts reach a webhook and
a failing webhook is counted, and a log followed from "latest" reads none of the past."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sigstack.protocol import x509ext
from tests.integration.monitor.kit import (
    ISSUER,
    Ca,
    Written,
    add_ct,
    add_v1,
    add_v2,
    ct_instance,
    email,
    fingerprint,
    found,
    monitor,
    new_key,
    uri,
    v1_dsse,
    v1_hashedrekord,
    v1_instance,
    v1_intoto,
    v2_hashedrekord,
    v2_instance,
    webhook,
    write_config,
    write_trusted_root,
)
from tests.support.servers import Service

pytestmark = pytest.mark.xdist_group("servers")

ALICE = "alice@example.com"
REPO = "https://github.com/org/repo"
WORKFLOW = "https://github.com/org/app/.github/workflows/release.yml@refs/heads/main"
ACTIONS = "https://token.actions.example/org"
WATCHED_ARTIFACT = b"the watched artifact"
RELEASE_REF = "refs/heads/release"


def _metrics(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(path.read_text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _scanned(path: Path, log: str) -> float:
    return _metrics(path)[("sigstack_monitor_entries_scanned_total", (("log", log),))]


def test_first_run_finds_exactly_the_watched_entries_then_only_new_ones(tmp_path: Path) -> None:
    ca = Ca(tmp_path)
    watched_key = new_key()
    v1d, v2d, ctd = tmp_path / "rekor", tmp_path / "rekor2", tmp_path / "ct"
    with (
        Service("rekor", "--data-dir", str(v1d), "--hostname", "rekor.test",
                log=tmp_path / "rekor.log") as v1,
        Service("rekor2", "--data-dir", str(v2d), "--origin", "rekor2.test",
                log=tmp_path / "rekor2.log") as v2,
        Service("ctlog", "--data-dir", str(ctd), "--roots", str(ca.root_pem),
                log=tmp_path / "ct.log") as ct,
    ):  # fmt: skip
        expected: set[tuple[str, int, str]] = set()

        def v1_entry(entry: dict, match: bool) -> Written:
            w = add_v1(v1, entry)
            if match:
                expected.update({("rekor", w.index, w.uuid), ("rekor-tiles", w.index, w.uuid)})
            return w

        def key_cert(san: object, issuer: str = ISSUER, **ext: str) -> tuple[object, object]:
            k = new_key()
            return k, ca.leaf(san, k, issuer, **ext)  # type: ignore[arg-type]

        k, c = key_cert(email(ALICE))
        v1_entry(v1_hashedrekord(b"a1", k, c), True)  # identity + issuer
        k, c = key_cert(email("bob@example.com"))
        v1_entry(v1_hashedrekord(b"b1", k, c), False)
        v1_entry(v1_hashedrekord(b"k1", watched_key, None), True)  # key fingerprint
        k, c = key_cert(email("carol@example.com"), source_repository_uri=REPO)
        v1_entry(v1_dsse(b'{"_type": "s"}', k, c), True)  # extension by name
        k, c = key_cert(uri(WORKFLOW), ACTIONS)
        v1_entry(v1_intoto(b'{"_type": "t"}', k, c), True)  # identity and issuer regexps
        v1_entry(v1_hashedrekord(WATCHED_ARTIFACT, new_key(), None), True)  # artifact digest
        k, c = key_cert(email(ALICE), "https://other-issuer.example")
        v1_entry(v1_intoto(b'{"_type": "u"}', k, c), False)  # right identity, wrong issuer
        k, c = key_cert(uri(f"https://evil.example/{WORKFLOW}"), ACTIONS)
        v1_entry(v1_hashedrekord(b"e1", k, c), False)  # the regexp is anchored

        def v2_entry(request: dict, match: bool) -> None:
            w = add_v2(v2, request)
            if match:
                expected.add(("rekor2", w.index, w.uuid))

        k, c = key_cert(email(ALICE))
        v2_entry(v2_hashedrekord(b"a2", k, c), True)
        v2_entry(v2_hashedrekord(b"k2", watched_key, None), True)
        k, c = key_cert(email("bob@example.com"))
        v2_entry(v2_hashedrekord(b"b2", k, c), False)
        k, c = key_cert(email("dave@example.com"), github_workflow_ref=RELEASE_REF)
        v2_entry(v2_hashedrekord(b"d2", k, c), True)  # extension by OID (raw .1.6 value)

        def ct_entry(san: object, match: bool, key: object = None, precert: bool = True,
                     **ext: str) -> None:  # fmt: skip
            k = key or new_key()
            w = add_ct(ct, ca, ca.leaf(san, k, precert=precert, **ext), precert)  # type: ignore[arg-type]
            if match:
                expected.add(("ct", w.index, w.uuid))

        ct_entry(email(ALICE), True)  # a precertificate's TBSCertificate
        ct_entry(email("frank@example.com"), True, key=watched_key)
        ct_entry(email("dave@example.com"), True, precert=False, github_workflow_ref=RELEASE_REF)
        ct_entry(email("bob@example.com"), False)
        ct_entry(email("erin@example.com"), False)

        root = write_trusted_root(
            tmp_path / "trusted_root.json",
            [v1_instance(v1, v1d), v2_instance(v2, v2d, "rekor2.test")], [ct_instance(ct, ctd)]
        )  # fmt: skip
        logs = [
            {"name": "rekor", "type": "rekor", "url": v1.url},
            {"name": "rekor-tiles", "type": "rekor", "url": v1.url, "entries": "tiles"},
            {"name": "rekor2", "type": "tiles", "url": v2.url, "origin": "rekor2.test"},
            {"name": "ct", "type": "ct", "url": ct.url},
        ]
        watch = {
            "identities": [
                {"identity": ALICE, "issuer": ISSUER},
                {"identity_regexp": r"https://github\.com/org/[^/]+/\.github/workflows/.*",
                 "issuer_regexp": r"https://token\.actions\.example/.*"},
            ],
            "extensions": [
                {"name": "source_repository_uri", "value": REPO},
                {"oid": x509ext.OID_GITHUB_WORKFLOW_REF.dotted_string, "values": [RELEASE_REF]},
            ],
            "fingerprints": [fingerprint(watched_key)],
            "digests": [f"sha256:{hashlib.sha256(WATCHED_ARTIFACT).hexdigest()}"],
        }  # fmt: skip
        config = write_config(tmp_path / "monitor.json", trusted_root=root.name,
                              state="state.json", logs=logs, watch=watch)  # fmt: skip
        metrics = tmp_path / "metrics.prom"

        first = monitor(config, "--metrics-file", str(metrics))
        assert first.status == 3, first.stderr
        assert found(first) == expected
        assert {a["type"] for a in first.alerts} == {"match"}
        alice = next(a for a in first.alerts if a["log"] == "rekor" and a["index"] == 0)
        assert alice["kind"] == "hashedrekord/0.0.1" and alice["url"] == v1.url
        assert alice["matches"] == [{"rule": "identity", "identity": ALICE, "issuer": ISSUER}]
        assert alice["certificates"][0]["identities"] == [ALICE]
        assert alice["certificates"][0]["issuer"] == ISSUER
        precert = next(a for a in first.alerts if a["log"] == "ct" and a["index"] == 0)
        assert precert["kind"] == "precert_entry" and precert["certificates"][0]["sha256"] is None
        keyed = next(a for a in first.alerts if a["log"] == "ct" and a["index"] == 1)
        assert keyed["matches"] == [{"rule": "fingerprint", "key_sha256": fingerprint(watched_key)}]
        state = tmp_path / "state.json"
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        sizes = {"rekor": 8, "rekor-tiles": 8, "rekor2": 4, "ct": 5}
        assert {log: _scanned(metrics, log) for log in sizes} == sizes

        # a restart reads nothing again; logs followed from "latest" read none of the past
        logs += [
            {"name": "rekor-latest", "type": "rekor", "url": v1.url, "start": "latest"},
            {"name": "rekor2-latest", "type": "tiles", "url": v2.url, "origin": "rekor2.test",
             "start": "latest"},
            {"name": "ct-latest", "type": "ct", "url": ct.url, "start": "latest"},
        ]  # fmt: skip
        write_config(config, trusted_root=root.name, state="state.json", logs=logs, watch=watch)
        again = monitor(config, "--metrics-file", str(metrics))
        assert (again.status, again.alerts) == (0, []), again.stderr
        assert {log: _scanned(metrics, log) for log in sizes} == sizes
        assert _scanned(metrics, "rekor2-latest") == 0
        assert _scanned(metrics, "rekor-latest") <= 2 and _scanned(metrics, "ct-latest") <= 2

        # new entries are found next time, by every follower, and reach the webhook
        k, c = key_cert(email(ALICE))
        new_v1 = add_v1(v1, v1_hashedrekord(b"a3", k, c))
        new_v2 = add_v2(v2, v2_hashedrekord(b"a4", k, c))
        before = _metrics(metrics)[("sigstack_monitor_entries_scanned_total", (("log", "ct"),))]
        ct_entry(email(ALICE), False)
        new_ct_index = int(before)
        hook = webhook()
        try:
            third = monitor(config, "--metrics-file", str(metrics), "--webhook", hook.url)
            assert third.status == 3, third.stderr
            got = found(third)
            assert {(log, i) for log, i, _ in got} == {
                ("rekor", new_v1.index), ("rekor-tiles", new_v1.index),
                ("rekor-latest", new_v1.index), ("rekor2", new_v2.index),
                ("rekor2-latest", new_v2.index), ("ct", new_ct_index), ("ct-latest", new_ct_index),
            }  # fmt: skip
            assert ("rekor", new_v1.index, new_v1.uuid) in got
            assert [body for _, _, body in hook.bodies] == third.alerts
            assert {(path, ctype) for path, ctype, _ in hook.bodies} == {
                ("/alerts", "application/json")
            }
            assert _metrics(metrics)[("sigstack_monitor_webhook_sent_total", ())] == 7

            # a webhook that fails is counted and said, and the run goes on
            hook.status = 500
            add_v2(v2, v2_hashedrekord(b"a5", k, c))
            fourth = monitor(config, "--metrics-file", str(metrics), "--webhook", hook.url)
            assert fourth.status == 3 and len(fourth.alerts) == 2, fourth.stderr
            assert "webhook did not take an alert: HTTP 500" in fourth.stderr
            assert _metrics(metrics)[("sigstack_monitor_webhook_failures_total", ())] == 2
        finally:
            hook.served.close()
        counted = _metrics(metrics)
        assert (
            counted[("sigstack_monitor_alerts_total", (("log", "rekor2"), ("type", "match")))] == 5
        )
        assert counted[("sigstack_monitor_lag_entries", (("log", "rekor2"),))] == 0
        assert counted[("sigstack_monitor_log_size", (("log", "rekor2"),))] == 6

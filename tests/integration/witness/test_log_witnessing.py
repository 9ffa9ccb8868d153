"""A real ``sigstack serve rekor2`` that calls real ``sigstack serve witness`` processes before it
publishes a checkpoint (docs/witness.md, "Our logs call their witnesses").

- Two witnesses, quorum both: every entry's checkpoint and ``/checkpoint`` carry both
  cosignatures, each valid under the policy; after the log restarts (it no longer knows the sizes
  the witnesses hold) the witnesses' 409s lead it to the right old size and it is cosigned again.
- Fail-open with the witness down: the entry is answered, its checkpoint carries no cosignature,
  and the outage is counted (unreachable, quorum missed and published); once the witness is back
  the next checkpoint is cosigned again, proved from the size the witness held.
- Fail-closed with the witness down: no checkpoint is published, the writer gets 503 after
  ``witness_wait``, the entry is kept: once the witness is back it is published (with no new
  write), cosigned, and the same request is answered as a duplicate.
- A fork (another log with the same key and origin, other entries) is refused by the witness
  (409 then 422 per C2SP) and gets no cosignature; the witness keeps the honest log's checkpoint.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from sigstack.client.verify.witness import WitnessPolicy
from tests.integration.witness.logside import (
    LogKey,
    add,
    checkpoint,
    entry_request,
    envelope,
    http,
    log_service,
    metric,
    signers,
    start_witness,
    write_policy,
)
from tests.support.servers import free_port
from tests.unit.witness.helpers import origin_hash

pytestmark = pytest.mark.xdist_group("servers")
SUBMISSIONS = "sigstack_witness_submissions_total"
MISSED = "sigstack_witness_quorum_missed_total"


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_checkpoints_are_published_with_both_witnesses_cosignatures(tmp_path: Path) -> None:
    key = LogKey.make(tmp_path / "log-key.pem")
    with ExitStack() as stack:
        w1 = start_witness(stack, tmp_path, "w1", key)
        w2 = start_witness(stack, tmp_path, "w2", key)
        policy_file = write_policy(tmp_path / "policy.txt", [w1, w2],
                                   "group both all w1 w2\nquorum both")  # fmt: skip
        policy = WitnessPolicy.from_file(policy_file)
        conf = {"witness_policy": str(policy_file), "witness_fail_closed": True}
        with log_service(tmp_path, key, **conf) as log:
            for round_ in range(3):
                status, entry = add(log.url, f"round {round_}".encode())
                assert status == 201, entry
                signed = envelope(entry)
                assert signers(signed) == [key.origin, "witness.test/w1", "witness.test/w2"]
                assert set(policy.require(signed).witnesses) == {"w1", "w2"}
                assert checkpoint(log.url)[0] == signed
            held = http(f"{w1.service.url}/{origin_hash(key.origin)}/checkpoint")[1].decode()
            assert signers(held) == [key.origin, "witness.test/w1"]  # what it cosigned, as sent
            assert set(held.splitlines()) <= set(checkpoint(log.url)[0].splitlines())
            assert metric(log.url, SUBMISSIONS, witness="w2", result="cosigned") == 3
        # a new process knows none of the witnesses' sizes: their 409s tell it
        with log_service(tmp_path, key, **conf) as log:
            status, entry = add(log.url, b"after the restart")
            assert status == 201, entry
            assert set(policy.require(envelope(entry)).witnesses) == {"w1", "w2"}
            assert checkpoint(log.url)[1].size == 4


def test_fail_open_publishes_uncosigned_and_counts_the_outage(tmp_path: Path) -> None:
    key = LogKey.make(tmp_path / "log-key.pem")
    with ExitStack() as stack:
        w1 = start_witness(stack, tmp_path, "w1", key)
        policy_file = write_policy(tmp_path / "policy.txt", [w1], "quorum w1")
        policy = WitnessPolicy.from_file(policy_file)
        with log_service(tmp_path, key, witness_policy=str(policy_file)) as log:
            assert add(log.url, b"first")[0] == 201
            w1.service.stop()
            started = time.monotonic()
            status, entry = add(log.url, b"while the witness is down")
            assert status == 201, entry
            assert time.monotonic() - started < 10
            assert signers(envelope(entry)) == [key.origin]
            assert checkpoint(log.url)[0] == envelope(entry)
            with pytest.raises(Exception, match="no valid cosignature from: w1"):
                policy.require(envelope(entry))
            assert metric(log.url, SUBMISSIONS, witness="w1", result="unreachable") >= 1
            assert metric(log.url, MISSED, action="published") >= 1
            assert "without the witness quorum" in (tmp_path / "rekor2.log").read_text()
            w1.service.start()
            status, entry = add(log.url, b"the witness is back")
            assert status == 201, entry
            assert set(policy.require(envelope(entry)).witnesses) == {"w1"}
            assert checkpoint(log.url)[1].size == 3


def test_fail_closed_withholds_the_checkpoint_and_keeps_the_entry(tmp_path: Path) -> None:
    key = LogKey.make(tmp_path / "log-key.pem")
    with ExitStack() as stack:
        w1 = start_witness(stack, tmp_path, "w1", key)
        policy_file = write_policy(tmp_path / "policy.txt", [w1], "quorum w1")
        policy = WitnessPolicy.from_file(policy_file)
        conf = {"witness_policy": str(policy_file), "witness_fail_closed": True,
                "witness_wait": 3}  # fmt: skip
        with log_service(tmp_path, key, **conf) as log:
            assert add(log.url, b"first")[0] == 201
            before = checkpoint(log.url)[0]
            w1.service.stop()
            body = entry_request(b"while the witness is down")
            started = time.monotonic()
            status, answer = add(log.url, body=body)
            waited = time.monotonic() - started
            assert status == 503, answer
            assert "witnesses have not cosigned" in str(answer)
            assert 2.5 <= waited < 10
            assert checkpoint(log.url)[0] == before  # nothing published
            assert metric(log.url, MISSED, action="withheld") >= 1
            assert metric(log.url, SUBMISSIONS, witness="w1", result="unreachable") >= 1
            w1.service.start()
            # published without another write, in order, cosigned
            wait_for(lambda: checkpoint(log.url)[1].size == 2)
            published = checkpoint(log.url)[0]
            assert set(policy.require(published).witnesses) == {"w1"}
            status, answer = add(log.url, body=body)  # the writer tries again
            assert status == 409 and "index 1" in str(answer), answer


def test_a_fork_is_refused_and_never_cosigned(tmp_path: Path) -> None:
    key = LogKey.make(tmp_path / "log-key.pem")
    with ExitStack() as stack:
        w1 = start_witness(stack, tmp_path, "w1", key)
        policy_file = write_policy(tmp_path / "policy.txt", [w1], "quorum w1")
        policy = WitnessPolicy.from_file(policy_file)
        conf = {"witness_policy": str(policy_file)}
        with log_service(tmp_path, key, **conf) as honest:
            for i in range(3):
                assert add(honest.url, f"honest {i}".encode())[0] == 201
            held = http(f"{w1.service.url}/{origin_hash(key.origin)}/checkpoint")
            assert signers(held[1].decode()) == [key.origin, "witness.test/w1"]
            # the same key and origin, another database: another history
            with log_service(tmp_path, key, "fork", port=free_port(), **conf) as fork:
                for i in range(5):
                    status, entry = add(fork.url, f"forked {i}".encode())
                    assert status == 201, entry
                    assert signers(envelope(entry)) == [key.origin]  # no cosignature
                assert metric(fork.url, SUBMISSIONS, witness="w1", result="refused") >= 1
                fork_log = (tmp_path / "fork.log").read_text()
                assert "(422)" in fork_log and "consistency proof" in fork_log
            with pytest.raises(Exception, match="no valid cosignature"):
                policy.require(envelope(entry))
            assert http(f"{w1.service.url}/{origin_hash(key.origin)}/checkpoint") == held
            assert "UNPROVEN CHECKPOINT" in (tmp_path / "w1.log").read_text()
            status, entry = add(honest.url, b"honest again")
            assert status == 201 and set(policy.require(envelope(entry)).witnesses) == {"w1"}

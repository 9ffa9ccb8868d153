"""The client's witness policy (client.verify.witness): C2SP tlog-policy parsing, quorum checks on
cosigned checkpoints, and ``--witness-policy`` on a real Sigstore staging bundle (Rekor v2, whose
checkpoint already carries three public witnesses' cosignatures) cosigned by our witness."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sigstack.client.cli import main as sigstack
from sigstack.client.verify.witness import WitnessPolicy, load_policy, require_witnessed
from sigstack.protocol import cosignature, note
from sigstack.protocol.bundle import Bundle
from sigstack.protocol.errors import ValidationError, VerificationError
from sigstack.services.witness.cosigner import vkey
from tests.support.testdata import TESTDATA
from tests.unit.witness.helpers import TestLog, body, witness_app

CASE = TESTDATA / "pyassets/cases/staging-rekor-v2-dsse-happy-path"
C2SP_NOTE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Z"
    "hcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
SPEC_VKEY = "witness.example/w1+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
SPEC_LINE = (
    "\u2014 witness.example/w1 63YswgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57DLErur7K0"
    "yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n"
)


class Cosigner:
    """A witness key outside any server, for quorum cases."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.vkey = vkey(name, self.key.public_key())
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id = cosignature.cosignature_key_id(name, raw)

    def line(self, checkpoint: str, timestamp: int = 1_700_000_000) -> str:
        text = note.SignedNote.from_text(checkpoint).text
        return cosignature.cosign_line(text, self.name, self.key_id, timestamp, self.key.sign)


def policy(text: str) -> WitnessPolicy:
    return WitnessPolicy.from_text(text, "policy")


def test_the_spec_vector_verifies_and_a_0x01_vkey_of_the_same_key_too() -> None:
    cosigned = C2SP_NOTE + SPEC_LINE
    found = policy(f"witness w1 {SPEC_VKEY}\nquorum w1\n").require(cosigned).witnesses
    assert found["w1"].timestamp() == 1679315147
    raw = base64.b64decode(SPEC_VKEY.split("+", 2)[2])[1:]
    as_0x01 = "witness.example/w1+{}+{}".format(
        note.ed25519_key_id("witness.example/w1", raw).hex(),
        base64.b64encode(bytes([1]) + raw).decode(),
    )
    policy(f"witness w1 {as_0x01} https://w1.example/\nquorum w1\n").require(cosigned)
    with pytest.raises(VerificationError, match="no valid cosignature from: w1"):
        policy(f"witness w1 {SPEC_VKEY}\nquorum w1\n").require(C2SP_NOTE)


def test_quorums_of_groups() -> None:
    log = TestLog("log.example").grow(5)
    a, b, c = Cosigner("a.example"), Cosigner("b.example"), Cosigner("c.example")
    checkpoint = log.checkpoint()
    only_a = checkpoint + a.line(checkpoint)
    a_and_c = only_a + c.line(checkpoint)
    defs = f"witness a {a.vkey}\nwitness b {b.vkey}\nwitness c {c.vkey}\n"
    assert policy(defs + "quorum a\n").require(only_a).witnesses.keys() == {"a"}
    policy(defs + "group g any a b c\nquorum g\n").require(only_a)
    policy(defs + "group g 2 a b c\nquorum g\n").require(a_and_c)
    with pytest.raises(VerificationError) as exc:
        policy(defs + "group g all a b c\nquorum g\n").require(a_and_c)
    assert "group g (all of 3: a, b, c)" in exc.value.message
    assert "cosigned by: a, c; no valid cosignature from: b" in exc.value.message
    nested = defs + "group ab all a b\ngroup top any ab c  # comment\nquorum top\n"
    policy(nested).require(a_and_c)  # c alone meets "any"
    with pytest.raises(VerificationError, match="from: b, c"):
        policy(nested).require(only_a)
    assert policy("quorum none\n").require(checkpoint).witnesses == {}


def test_bad_and_zero_time_cosignatures_are_refused_not_ignored() -> None:
    log = TestLog("log.example").grow(5)
    a, b = Cosigner("a.example"), Cosigner("b.example")
    checkpoint = log.checkpoint()
    rules = policy(f"witness a {a.vkey}\nwitness b {b.vkey}\ngroup g any a b\nquorum g\n")
    line = note.SignedNote.from_text(checkpoint + a.line(checkpoint)).signatures[-1]
    flipped = line.signature[:-1] + bytes([line.signature[-1] ^ 1])
    tampered = checkpoint + note.NoteSignature(line.name, line.key_id, flipped).to_line()
    with pytest.raises(VerificationError, match="cosignature of witness a .* does not verify"):
        rules.require(tampered + b.line(checkpoint))  # b alone would meet the quorum
    later = struct.pack(">Q", 1_800_000_000) + line.signature[8:]  # another time, same signature
    with pytest.raises(VerificationError, match="does not verify"):
        rules.require(checkpoint + note.NoteSignature(line.name, line.key_id, later).to_line())
    with pytest.raises(VerificationError, match="time 0"):
        rules.require(checkpoint + a.line(checkpoint, timestamp=0))
    other = TestLog("log.example").grow(6)  # a cosignature over another checkpoint body
    with pytest.raises(VerificationError, match="does not verify"):
        rules.require(checkpoint + a.line(other.checkpoint()))


def test_log_lines_bind_the_checkpoint_to_a_log_key() -> None:
    log = TestLog("log.example").grow(5)
    a = Cosigner("a.example")
    checkpoint = log.checkpoint()
    cosigned = checkpoint + a.line(checkpoint)
    tail = f"witness a {a.vkey}\nquorum a\n"
    policy(f"log {log.vkey()}\n" + tail).require(cosigned)
    with pytest.raises(VerificationError, match="not one of the policy's logs"):
        policy(f"log {TestLog('other.example').vkey()}\n" + tail).require(cosigned)
    impostor = TestLog("log.example")  # the origin's name, another key
    with pytest.raises(VerificationError, match="not signed by the policy's log key"):
        policy(f"log {impostor.vkey()}\n" + tail).require(cosigned)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no 'quorum' line"),
        ("witness a {a}\n", "no 'quorum' line"),
        ("quorum none\nquorum none\n", "exactly one quorum"),
        ("quorum a\nwitness a {a}\n", "defined nowhere above"),
        ("witness a {a}\ngroup g any a x\nquorum g\n", "'x' is defined nowhere above"),
        ("witness a {a}\nwitness a {b}\nquorum a\n", "defined twice"),
        ("witness any {a}\nquorum any\n", "keyword"),
        ("witness a {a}\nwitness b {a}\nquorum a\n", "listed twice"),
        ("witness a {a}\ngroup g 2 a\nquorum g\n", "from 1 to 1"),
        ("witness a {a}\ngroup g 0 a\nquorum g\n", "from 1 to 1"),
        ("witness a {a}\ngroup g most a\nquorum g\n", "all, any or a number"),
        ("witness a {a}\ngroup g any a a\nquorum g\n", "appear once"),
        ("witness a {a}\ngroup g any\nquorum g\n", "want 'group"),
        ("witness a\nquorum a\n", "want 'witness"),
        ("witness a {mldsa}\nquorum a\n", "ML-DSA-44"),
        ("witness a not+a+vkey\nquorum a\n", "malformed vkey"),
        ("witness a {a_bad_id}\nquorum a\n", "does not match"),
        ("log {a}\nquorum none\n", "witness's cosigning key, not a log's"),
        ("trust everyone\nquorum none\n", "unknown keyword"),
    ],
)
def test_malformed_policies_are_refused_with_the_line(text: str, reason: str) -> None:
    a, b = Cosigner("a.example"), Cosigner("b.example")
    values = {
        "a": a.vkey,
        "b": b.vkey,
        "mldsa": "m.example+00000000+" + base64.b64encode(b"\x06" + b"\x00" * 1312).decode(),
        "a_bad_id": "a.example+00000000+" + a.vkey.split("+", 2)[2],
    }
    with pytest.raises(ValidationError, match=reason):
        policy(text.format(**values))


def test_policy_files(tmp_path: Path) -> None:
    assert load_policy(None) is None
    with pytest.raises(ValidationError, match="cannot read witness policy"):
        load_policy(tmp_path / "missing")
    (tmp_path / "bin").write_bytes(b"\xff")
    with pytest.raises(ValidationError, match="not UTF-8"):
        load_policy(tmp_path / "bin")
    (tmp_path / "p").write_text("quorum none\n")
    assert load_policy(tmp_path / "p") is not None


# -- a real bundle, our witness, the CLI -------------------------------------------------------


def _cosigned_case(tmp_path: Path) -> tuple[dict[str, Any], str, str]:
    """The real staging bundle with our witness's cosignature appended to its checkpoint, and
    the witness's vkey. The witness follows the case's trusted root (its Rekor v2 logs)."""
    app = witness_app(tmp_path / "w", name="witness.test/ours",
                      trusted_root=CASE / "trusted_root.json")  # fmt: skip
    client = app.test_client()
    raw = json.loads((CASE / "bundle.sigstore.json").read_text())
    holder = raw["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
    resp = client.post("/add-checkpoint", data=body(0, [], holder["envelope"]))
    assert resp.status_code == 200, resp.data
    line = resp.get_data(as_text=True)
    holder["envelope"] += line
    return raw, line, client.get("/vkey").get_data(as_text=True).strip()


def _verify(tmp_path: Path, bundle: dict[str, Any], rules: str) -> int:
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    (tmp_path / "policy.txt").write_text(rules)
    return sigstack(["verify-bundle", "--bundle", str(tmp_path / "bundle.json"),
                     "--trusted-root", str(CASE / "trusted_root.json"),
                     "--certificate-identity", (CASE / "identity").read_text().strip(),
                     "--certificate-oidc-issuer", (CASE / "issuer").read_text().strip(),
                     "--witness-policy", str(tmp_path / "policy.txt"), str(CASE / "artifact")])  # fmt: skip


def test_a_real_bundle_cosigned_by_our_witness_verifies_under_its_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, line, ours = _cosigned_case(tmp_path)
    # the public witnesses' lines are there, and our client ignores keys it does not know
    assert (
        bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"][
            "envelope"
        ].count("\u2014 ")
        == 5
    )
    assert _verify(tmp_path, bundle, f"witness ours {ours}\nquorum ours\n") == 0
    out = capsys.readouterr().err  # the check list goes to stderr, as cosign's
    assert "cosignatures meeting the witness policy: ours at " in out and "Verified OK" in out
    # 2 of 2: a second witness that did not cosign
    other = Cosigner("witness.stagemole.eu")  # a public witness's name, but not its key
    rules = (
        f"witness ours {ours}\nwitness other {other.vkey}\ngroup both all ours other\nquorum both\n"
    )
    assert _verify(tmp_path, bundle, rules) == 1
    err = capsys.readouterr().err
    assert (
        "not witnessed as the policy requires" in err and "no valid cosignature from: other" in err
    )
    # our line tampered
    entry = bundle["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]
    blob = bytearray(base64.b64decode(line.split()[-1]))
    blob[-1] ^= 1
    entry["envelope"] = entry["envelope"].replace(line.split()[-1], base64.b64encode(blob).decode())
    assert _verify(tmp_path, bundle, f"witness ours {ours}\nquorum ours\n") == 1
    assert (
        "cosignature of witness ours (witness.test/ours) does not verify" in capsys.readouterr().err
    )


def test_the_uncosigned_bundle_is_refused_under_a_policy_and_accepted_with_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = json.loads((CASE / "bundle.sigstore.json").read_text())
    ours = Cosigner("witness.test/ours")
    assert _verify(tmp_path, bundle, f"witness ours {ours.vkey}\nquorum ours\n") == 1
    assert "no valid cosignature from: ours" in capsys.readouterr().err
    assert _verify(tmp_path, bundle, "quorum none\n") == 0
    assert "quorum none" in capsys.readouterr().err
    assert _verify(tmp_path, bundle, "quorum\n") == 1  # a bad policy file: refused, exit 1
    assert "want 'quorum" in capsys.readouterr().err


def test_require_witnessed_needs_a_checkpoint() -> None:
    bundle = Bundle.from_json((CASE / "bundle.sigstore.json").read_bytes())
    message = require_witnessed(bundle, policy("quorum none\n"))
    assert "quorum none" in message

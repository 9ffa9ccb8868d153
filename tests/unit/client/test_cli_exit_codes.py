"""The ``sigstack`` front door as a user meets it, in real processes: ``--help`` states the exit
statuses, each one is what a command really returns, docs/client.md says the same, and
``sigstack serve --help`` is a successful answer on stdout."""

from __future__ import annotations

import re

from tests.support.servers import sigstack_cli
from tests.support.testdata import ROOT

STATED = ("Exit status: 0 success, 1 a failure\n(the reason is printed after `Error:`), 2 a usage "
          "error (unknown command or flag).")  # fmt: skip


def test_help_states_the_exit_statuses_on_stdout() -> None:
    done = sigstack_cli("--help")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: sigstack COMMAND")
    assert STATED in done.stdout


def test_each_stated_status_is_what_a_command_returns(tmp_path) -> None:
    assert sigstack_cli("--version").returncode == 0
    unknown = sigstack_cli("no-such-command")
    assert unknown.returncode == 2 and "unknown command 'no-such-command'" in unknown.stderr
    bad_flag = sigstack_cli("verify-blob", "--no-such-flag")
    assert bad_flag.returncode == 2 and "usage: sigstack verify-blob" in bad_flag.stderr
    assert sigstack_cli().returncode == 2  # no command at all
    (tmp_path / "file").write_text("x")
    (tmp_path / "bundle.json").write_text("{}")
    failed = sigstack_cli("verify-blob", str(tmp_path / "file"), "--bundle",
                          str(tmp_path / "bundle.json"), "--certificate-identity", "a@example.org",
                          "--certificate-oidc-issuer", "https://issuer.example",
                          "--trusted-root", str(tmp_path / "bundle.json"))  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: ") and "Traceback" not in failed.stderr


def test_client_doc_lists_the_same_statuses() -> None:
    text = (ROOT / "docs" / "client.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", text, re.MULTILINE))
    assert set(rows) == {"0", "1", "2", "130"}
    assert "`Error:`" in rows["1"] and "usage" in rows["2"] and "Ctrl-C" in rows["130"]
    assert "Any failure prints `Error: <reason>` and exits 1" not in text


def test_serve_help_is_usage_on_stdout_and_success() -> None:
    for asked in ("--help", "-h"):
        done = sigstack_cli("serve", asked)
        assert done.returncode == 0 and done.stderr == ""
        assert done.stdout.startswith("usage: sigstack serve {rekor,")
        assert "sigstack serve SERVICE --help" in done.stdout
    bare = sigstack_cli("serve")  # no service named: a usage error, on stderr
    assert bare.returncode == 2 and bare.stdout == ""
    assert bare.stderr.startswith("usage: sigstack serve")
    one = sigstack_cli("serve", "rekor", "--help")
    assert one.returncode == 0 and one.stdout.startswith("usage: sigstack serve rekor")

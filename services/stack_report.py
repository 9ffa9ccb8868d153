"""What ``sigstack up`` tells a person once the stack is ready, and the ``--demo`` round trip:
a service-account token, ``sigstack sign-blob`` and ``sigstack verify-blob`` run as a user would.

Every printed command works as pasted into bash, from any directory, with a PATH that does not
hold the virtual environment: executables are named by their full path (``sigstack`` and
sigstore-python's ``sigstore`` next to the running Python), the sigstore-python line is printed
only when that executable exists, and the curl one-liner only when ``curl`` and ``jq`` are both
on PATH (else ``sigstack oidc token``, which needs neither)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sigstack.services.oidc.cli import service_account_token as _grant

DEMO_EMAIL = "demo@sigstack.local"  # the demo user's address: the identity in their certificates


def service_account_token(account: Mapping[str, Any], audience: str = "sigstore") -> str:
    """The client_credentials grant, like the printed token command."""
    return _grant(account, audience)


def executable(name: str) -> Path | None:
    """``name`` installed next to the running Python (the virtual environment's bin/), if there."""
    path = Path(sys.executable).with_name(name)
    return path if path.is_file() else None


def sigstack_command() -> str:
    """``sigstack`` as a shell word that works from any directory and any PATH."""
    found = executable("sigstack")
    if found is not None:
        return shlex.quote(str(found))
    return f"{shlex.quote(sys.executable)} -m sigstack.client.cli"  # a checkout never installed


def token_command(account_file: Path, account: Mapping[str, Any]) -> tuple[str, str | None]:
    """The line that puts a service-account token into ``$TOKEN``, and a note when the curl
    one-liner cannot be offered (it needs both curl and jq)."""
    q = shlex.quote
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
    if missing:
        note = (f"({' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed, "
                "so the token comes from `sigstack oidc token`; the curl one-liner needs curl and "
                "jq)")  # fmt: skip
        return f"TOKEN=$({sigstack_command()} oidc token --account {q(str(account_file))})", note
    jq_file = q(str(account_file))
    return (
        f'TOKEN=$(curl -fsS -u "$(jq -r .client_id {jq_file}):$(jq -r .client_secret {jq_file})" '
        f"-d grant_type=client_credentials -d audience=sigstore "
        f"{q(str(account['token_endpoint']))} | jq -r .id_token)",
        None,
    )


def ready(
    data: Path,
    urls: dict[str, str],
    demo: dict[str, Any],
    seconds: float,
    database: str | None = None,
    witness_policy: Path | None = None,
) -> None:
    """Print the URLs, identities and ready-to-paste commands. ``database`` says where the
    tables live when not in SQLite files under ``data``; ``witness_policy`` is the policy file
    of ``sigstack up --witness``."""
    account = demo["account"]
    q = shlex.quote
    sigstack = sigstack_command()
    trust = q(str(data / "trust_config.json"))
    account_file = data / "demo-service-account.json"
    where = f"data in {data}" + (f", tables in {database}" if database else "")
    lines = [f"sigstack is up in {seconds:.1f}s ({where}):"]
    lines += [f"  {name:<7} {url}" for name, url in urls.items()]
    reset = f"{sigstack} oidc set-password demo --data-dir {q(str(data / 'oidc'))}"
    if "password" in demo:
        lines.append(f"  demo user: demo / {demo['password']}  (shown once; to change it: {reset})")
    else:
        lines.append(
            f"  demo user: demo  (password shown on the first start; to reset it: {reset})"
        )
    lines += [
        "",
        "Identities to verify against (issuer " + urls["oidc"] + "):",
        f"  {account['email']}  the demo service account (the token commands below)",
        f"  {DEMO_EMAIL}  the demo user, signing in through the browser (sign-blob without "
        "--identity-token)",
        "",
        "Sign and verify a file FILE with the demo service account (bash, any directory):",
    ]
    token, note = token_command(account_file, account)
    lines.append(f"  {token}")
    if note:
        lines.append(f"  {note}")
    lines += [
        f"  {sigstack} sign-blob FILE --bundle FILE.sigstore.json --trust-config {trust} "
        '--identity-token "$TOKEN"',
        f"  {sigstack} verify-blob FILE --bundle FILE.sigstore.json --trust-config {trust} "
        f"--certificate-identity {q(str(account['email']))} "
        f"--certificate-oidc-issuer {q(urls['oidc'])}",
        "",
    ]
    sigstore = executable("sigstore")
    if sigstore is not None:
        lines.append(f"sigstore-python: {q(str(sigstore))} --trust-config {trust} sign "
                     '--identity-token "$TOKEN" --bundle FILE.sigstore-python.json FILE')  # fmt: skip
    lines += [
        f"Rekor v2:        the same commands with --trust-config "
        f"{q(str(data / 'trust_config_rekor_v2.json'))} write to the v2 log, with a timestamp "
        "from the TSA",
    ]
    if witness_policy is not None:
        lines.append(
            "Witness:         Rekor v1 and v2 publish checkpoints the witness cosigned (fail-open: "
            "without it they publish them uncosigned); to require its cosignature, add "
            f"--witness-policy {q(str(witness_policy))} to the verify-blob command"
        )
    lines += [
        f"TUF clients:     {sigstack} initialize --mirror {q(urls['tuf'])} --root "
        f"{q(str(data / 'tuf' / 'root.json'))}",
        "Ctrl-C stops the stack.",
    ]
    print("\n".join(lines), flush=True)


def demo(data: Path, urls: dict[str, str], account: dict[str, Any]) -> None:
    """Sign and verify a file keylessly, printing what the commands print."""
    artifact = data / "demo" / "hello.txt"
    artifact.parent.mkdir(exist_ok=True)
    artifact.write_text("hello from sigstack\n")
    bundle = artifact.with_name("hello.txt.sigstore.json")
    token = service_account_token(account)
    base = [sys.executable, "-m", "sigstack.client.cli"]
    trust = ["--trust-config", str(data / "trust_config.json")]
    print(f"\n== demo: sigstack sign-blob {artifact}", flush=True)
    subprocess.run([*base, "sign-blob", str(artifact), "--bundle", str(bundle), *trust,
                    "--identity-token", token], check=True)  # fmt: skip
    print(f"\n== demo: sigstack verify-blob {artifact}", flush=True)
    subprocess.run([*base, "verify-blob", str(artifact), "--bundle", str(bundle), *trust,
                    "--certificate-identity", account["email"],
                    "--certificate-oidc-issuer", urls["oidc"]], check=True)  # fmt: skip
    print("\n== demo: done; the stack keeps running (Ctrl-C stops it)", flush=True)

"""What ``sigstack up`` tells a person once the stack is ready, and the ``--demo`` round trip:
a service-account token, ``sigstack sign-blob`` and ``sigstack verify-blob`` run as a user would."""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from protocol.errors import ConfigError


def service_account_token(account: dict[str, Any], audience: str = "sigstore") -> str:
    """The client_credentials grant, like the documented curl one-liner."""
    basic = base64.b64encode(f"{account['client_id']}:{account['client_secret']}".encode()).decode()
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "audience": audience})
    endpoint = str(account["token_endpoint"])
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError("token endpoint must be an http(s) URL")
    req = urllib.request.Request(endpoint, data=body.encode(), method="POST",  # noqa: S310
                                 headers={"Authorization": f"Basic {basic}",
                                          "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 (our own issuer)
        return str(json.loads(resp.read())["id_token"])


def ready(data: Path, urls: dict[str, str], demo: dict[str, Any], seconds: float) -> None:
    account = demo["account"]
    q = shlex.quote
    trust = q(str(data / "trust_config.json"))
    lines = [f"sigstack is up in {seconds:.1f}s (data in {data}):"]
    lines += [f"  {name:<7} {url}" for name, url in urls.items()]
    if "password" in demo:
        lines.append(f"  demo user: demo / {demo['password']}  (shown once)")
    lines += [
        "",
        "Sign and verify a file with the demo service account:",
        f'  TOKEN=$(curl -fsS -u "$(jq -r .client_id {q(str(data / "demo-service-account.json"))})'
        f':$(jq -r .client_secret {q(str(data / "demo-service-account.json"))})" '
        f"-d grant_type=client_credentials -d audience=sigstore {account['token_endpoint']} "
        "| jq -r .id_token)",
        f"  sigstack sign-blob FILE --bundle FILE.sigstore.json --trust-config {trust} "
        '--identity-token "$TOKEN"',
        f"  sigstack verify-blob FILE --bundle FILE.sigstore.json --trust-config {trust} "
        f"--certificate-identity {account['email']} --certificate-oidc-issuer {urls['oidc']}",
        "",
        f'sigstore-python: sigstore --trust-config {trust} sign --identity-token "$TOKEN" FILE',
        f"TUF clients:     sigstack initialize --mirror {urls['tuf']} --root "
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
    base = [sys.executable, "-m", "client.cli"]
    trust = ["--trust-config", str(data / "trust_config.json")]
    print(f"\n== demo: sigstack sign-blob {artifact}", flush=True)
    subprocess.run([*base, "sign-blob", str(artifact), "--bundle", str(bundle), *trust,
                    "--identity-token", token], check=True)  # fmt: skip
    print(f"\n== demo: sigstack verify-blob {artifact}", flush=True)
    subprocess.run([*base, "verify-blob", str(artifact), "--bundle", str(bundle), *trust,
                    "--certificate-identity", account["email"],
                    "--certificate-oidc-issuer", urls["oidc"]], check=True)  # fmt: skip
    print("\n== demo: done; the stack keeps running (Ctrl-C stops it)", flush=True)

"""End to end through connectors (issue 16), with real parts only: headless Chromium signs a
person in at our issuer through a second sigstack issuer started as its upstream OpenID Connect
provider (``sigstack serve oidc`` with its own user), or through a real slapd; the tokens that
come out are then used to sign with sigstore-python 4.5.1 and with ``sigstack sign-blob``
against a real Fulcio (trusting our issuer), CT log and Rekor (tests/support/signing_services).

Proves: the login and device pages offer every way, sigstore-python's own browser flow and our
CLI's browser flow come back with a token whose ``email`` is the upstream person's, Fulcio puts
that email into the certificate and sigstore-python verifies the bundle against it, and the
device flow works through the upstream provider and through LDAP.
"""

from __future__ import annotations

import base64
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509

from tests.support.browser import chromium, sign_blob_in_browser
from tests.support.connectors import device_start, device_token, verified
from tests.support.ldap import PEOPLE, ldap_connector, slapd
from tests.support.servers import Service, sigstack_out
from tests.support.signing_services import signing_services, trust_config
from tests.support.testdata import ROOT

from .live import live_issuer

pytestmark = pytest.mark.interop
SIGSTORE_PY = Path(sys.executable).with_name("sigstore")
DANA, DANA_EMAIL, DANA_PASSWORD = "dana", "dana@upstream.example", "upstream-pass-1"
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The upstream issuer, the directory, our issuer with both as connectors, and the signing
    services trusting our issuer."""
    tmp = tmp_path_factory.mktemp("connectors-e2e")
    up_data = tmp / "upstream"
    sigstack_out("oidc", "add-user", DANA, "--email", DANA_EMAIL, "--password-stdin",
                 "--data-dir", str(up_data), stdin=DANA_PASSWORD + "\n")  # fmt: skip
    with (
        Service(
            "oidc", "--data-dir", str(up_data), "--workers", "1", log=tmp / "upstream.log"
        ) as upstream,  # fmt: skip
        slapd(tmp / "slapd") as directory,
    ):
        connectors = [
            {
                "type": "oidc",
                "id": "corp-sso",
                "name": "Corp SSO",
                "issuer": upstream.url,
                "client_id": "sigstore",
                "scopes": ["openid", "email"],
            },  # fmt: skip
            ldap_connector(directory),
        ]
        config = {"connectors": connectors, "device_poll_interval": 1}
        (tmp / "ours").mkdir()
        with live_issuer("sqlite", tmp / "ours", ["alice"], config) as ours:
            with signing_services(tmp / "signing", SimpleNamespace(url=ours.url)) as running:
                trust = tmp / "trust_config.json"
                document = trust_config(running)
                document["signingConfig"]["oidcUrls"] = [{
                    "url": ours.url, "majorApiVersion": 1, "operator": "sigstack.test",
                    "validFor": document["signingConfig"]["caUrls"][0]["validFor"]}]  # fmt: skip
                trust.write_text(json.dumps(document))
                yield SimpleNamespace(upstream=upstream, ours=ours, trust=trust, tmp=tmp)


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as running:
        yield running


def sign_in_upstream(page: Any, upstream_url: str) -> None:
    """On the upstream issuer's login page (reached by a redirect): sign dana in."""
    page.wait_for_url(f"{upstream_url}/auth?*", timeout=20000)
    page.get_by_label("Username").fill(DANA)
    page.get_by_label("Password").fill(DANA_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def certificate_email(bundle: Path) -> str:
    material = json.loads(bundle.read_text())["verificationMaterial"]
    raw = material.get("certificate", {}).get("rawBytes") or (
        material["x509CertificateChain"]["certificates"][0]["rawBytes"])  # fmt: skip
    cert = x509.load_der_x509_certificate(base64.b64decode(raw))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(san.get_values_for_type(x509.RFC822Name)[0])


def test_sigstore_python_signs_with_a_token_from_the_upstream_provider(
    parts, browser, monkeypatch, tmp_path
):
    import sigstore.oidc
    from sigstore.oidc import Issuer

    opened: queue.Queue[str] = queue.Queue()
    monkeypatch.setattr(
        sigstore.oidc.webbrowser, "open", lambda url, *a, **k: opened.put(url) or True
    )
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["token"] = Issuer(parts.ours.url).identity_token()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    page = browser.new_page()
    page.goto(opened.get(timeout=30))
    assert page.url.startswith(parts.ours.url + "/auth?")
    for name in ("Corp SSO", "Corp directory", "Account on this issuer"):
        assert page.get_by_role("link", name=name).is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "oidc-connectors-choose.png"), full_page=True)
    page.get_by_role("link", name="Corp SSO").click()
    sign_in_upstream(page, parts.upstream.url)
    page.wait_for_url("http://localhost:*/auth/callback?*", timeout=20000)
    thread.join(timeout=30)
    assert "error" not in result, result.get("error")
    token = str(result["token"])
    claims = verified(parts.ours.url, token)
    assert claims["email"] == DANA_EMAIL and claims["email_verified"] is True
    assert claims["federated_claims"]["connector_id"] == "corp-sso"
    assert claims["federated_claims"]["user_id"].startswith("u-")  # dana's sub at the upstream
    assert claims["sub"].startswith("c-") and claims["iss"] == parts.ours.url

    artifact, bundle = tmp_path / "artifact.txt", tmp_path / "artifact.sigstore.json"
    artifact.write_text("signed through the organisation's identity provider\n")
    signed = _sigstore(parts, "sign", "--identity-token", token, "--bundle", str(bundle),
                       str(artifact))  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    assert certificate_email(bundle) == DANA_EMAIL
    ok = _sigstore(parts, "verify", "identity", "--bundle", str(bundle), "--cert-identity",
                   DANA_EMAIL, "--cert-oidc-issuer", parts.ours.url, str(artifact))  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    other = _sigstore(parts, "verify", "identity", "--bundle", str(bundle), "--cert-identity",
                      "alice@example.org", "--cert-oidc-issuer", parts.ours.url, str(artifact))  # fmt: skip
    assert other.returncode != 0


def _sigstore(parts: SimpleNamespace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SIGSTORE_PY), "--trust-config", str(parts.trust), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip


def test_sign_blob_with_the_browser_flow_through_the_upstream_provider(parts, tmp_path):
    """Our own CLI's browser flow (a terminal on stdin): the URL it opens goes to our issuer."""
    artifact, bundle = tmp_path / "artifact.txt", tmp_path / "cli.json"
    artifact.write_text("signed by sigstack through Corp SSO\n")

    def sign_in(url: str) -> None:
        with chromium() as browser:
            page = browser.new_page()  # type: ignore[attr-defined]
            page.goto(url + "&connector_id=corp-sso")  # chosen by the client
            sign_in_upstream(page, parts.upstream.url)
            page.wait_for_url("http://localhost:*/**", timeout=30000)

    args = [str(artifact), "--bundle", str(bundle), "--trust-config", str(parts.trust),
            "--oidc-issuer", parts.ours.url]  # fmt: skip
    code, _, err = sign_blob_in_browser(args, tmp_path, sign_in)
    assert code == 0, err
    assert certificate_email(bundle) == DANA_EMAIL
    ok = _sigstore(parts, "verify", "identity", "--bundle", str(bundle), "--cert-identity",
                   DANA_EMAIL, "--cert-oidc-issuer", parts.ours.url, str(artifact))  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def _approve_device(page: Any, way: str, sign_in: Any) -> None:
    page.get_by_role("button", name=f"Continue with {way}").click()
    sign_in(page)
    page.get_by_role("button", name="Approve").click()
    page.get_by_role("heading", name="Device approved").wait_for(timeout=10000)


def test_device_flow_through_the_upstream_provider(parts, browser):
    grant, verifier = device_start(parts.ours.url)
    page = browser.new_page()
    page.goto(grant["verification_uri_complete"])
    assert page.get_by_label("Code shown by the device").input_value() == grant["user_code"]

    def upstream(page: Any) -> None:
        sign_in_upstream(page, parts.upstream.url)
        page.wait_for_url(f"{parts.ours.url}/device?*", timeout=20000)
        assert DANA_EMAIL in page.content()  # who is about to approve is shown

    _approve_device(page, "Corp SSO", upstream)
    claims = verified(parts.ours.url, device_token(parts.ours.url, grant, verifier)["id_token"])
    assert claims["email"] == DANA_EMAIL
    assert claims["federated_claims"]["connector_id"] == "corp-sso"


def test_device_flow_through_the_directory(parts, browser):
    grant, verifier = device_start(parts.ours.url)
    page = browser.new_page()
    page.goto(grant["verification_uri_complete"])

    def directory(page: Any) -> None:
        page.get_by_label("Username").fill("carol")
        page.get_by_label("Password").fill(PEOPLE["carol"][1])

    _approve_device(page, "Corp directory", directory)
    claims = verified(parts.ours.url, device_token(parts.ours.url, grant, verifier)["id_token"])
    assert (claims["email"], claims["groups"]) == ("carol@example.org", ["signers"])

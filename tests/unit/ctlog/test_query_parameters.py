"""The CT log's integer query parameters: anything but a uint64 in ASCII decimal is a 400.

Found by the fuzz tests (tests/integration/fuzz): ``str.isdigit`` accepts "²" and other Unicode
digits that ``int`` refuses, and ``int`` refuses more than 4300 digits, so both were a 500.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from sigstack.services.ctlog.app import create_app
from sigstack.services.ctlog.config import CTLogConfig
from sigstack.services.fulcio.cli import create_ca
from sigstack.services.keys import create_file_key
from sigstack.services.runtime import db

ROUTES = {
    "/ct/v1/get-sth-consistency": ("first", "second"),
    "/ct/v1/get-proof-by-hash": ("tree_size",),
    "/ct/v1/get-entries": ("start", "end"),
    "/ct/v1/get-entry-and-proof": ("leaf_index", "tree_size"),
}
BAD = ["²", "١", "１", "-1", "+1", " 1", "1 ", "1.0", "1e3", "0x1", "", "9" * 21, "9" * 5000,
       str(1 << 64)]  # fmt: skip


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    tmp: Path = tmp_path_factory.mktemp("ct-params")
    ca = create_ca(tmp / "ca", algorithm="ecdsa-p256")
    url = db.sqlite_url(tmp / "ct.db")
    db.upgrade(url)
    create_file_key(tmp / "key.pem")
    app = create_app(CTLogConfig(database_url=url, key_uri=f"file:{tmp / 'key.pem'}",
                                 roots_file=str(ca["root.pem"]), create=True))  # fmt: skip
    return app.test_client()


@pytest.mark.parametrize("value", BAD)
@pytest.mark.parametrize(("route", "name"), [(r, n) for r, ns in ROUTES.items() for n in ns])
def test_a_malformed_integer_is_a_400(
    client: FlaskClient, route: str, name: str, value: str
) -> None:
    params = {n: "0" for n in ROUTES[route]} | {name: value}
    if route.endswith("get-proof-by-hash"):
        params["hash"] = "A" * 43 + "="
    resp = client.get(route, query_string=params)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.get_json()["message"] == f"parameter {name} must be a non-negative 64-bit integer"


def test_the_largest_uint64_is_read_as_a_number(client: FlaskClient) -> None:
    resp = client.get("/ct/v1/get-entries", query_string={"start": "0", "end": str((1 << 64) - 1)})
    assert resp.status_code == 400
    assert resp.get_json()["message"] == "start is beyond the end of the tree"

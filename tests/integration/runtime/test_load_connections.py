"""No request fails at the socket level under load (issue 11: the old worker dropped thousands of
keep-alive requests under the Rekor write benchmark's shape; wrk counted them as socket errors).

64 keep-alive connections, all open at once (twice the threads a SQLite Rekor runs, four times a
PostgreSQL worker's), each send a series of writes and reads to a real ``sigstack serve rekor`` on
the default server (granian): every request must get a complete HTTP answer on the connection it
was sent on (no reset, no EOF, no timeout, no silent reconnect), with the status the request
deserves; the count of connection errors is zero. Outcomes only: no timing is asserted.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from tests.support.dbs import fresh_postgres
from tests.support.entries import hashedrekord
from tests.support.servers import Service

pytestmark = pytest.mark.xdist_group("servers")

CONNECTIONS = 64
ROUNDS = 5  # per connection: POST a new entry, POST it again, GET its Location, GET the log


class _Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: Counter[tuple[str, int]] = Counter()
        self.errors: list[str] = []
        self.created: set[str] = set()

    def answer(self, what: str, status: int) -> None:
        with self.lock:
            self.answers[(what, status)] += 1

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _ask(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
         ) -> tuple[int, bytes, http.client.HTTPResponse]:  # fmt: skip
    if conn.sock is None:
        conn.connect()
    sock = conn.sock
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()  # raises IncompleteRead when the body is cut short
    if resp.getheader("Content-Length") != str(len(data)):
        raise http.client.HTTPException(f"{method} {path}: body of {len(data)} bytes, "
                                        f"Content-Length {resp.getheader('Content-Length')}")  # fmt: skip
    if conn.sock is not sock or resp.will_close:
        raise http.client.HTTPException(f"{method} {path}: the connection was not kept alive")
    return resp.status, data, resp


def _connection(port: int, bodies: list[bytes], start: threading.Barrier, tally: _Tally) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.connect()  # every connection is open before the first request is sent
        start.wait()
        for body in bodies:
            status, data, resp = _ask(conn, "POST", "/api/v1/log/entries", body)
            tally.answer("create", status)
            if status == 201:
                with tally.lock:
                    tally.created.update(json.loads(data))
            status, _, again = _ask(conn, "POST", "/api/v1/log/entries", body)
            tally.answer("duplicate", status)
            location = again.getheader("Location") or resp.getheader("Location")
            if location is None:
                raise http.client.HTTPException(f"no Location after {status}")
            tally.answer("entry", _ask(conn, "GET", location)[0])
            tally.answer("log", _ask(conn, "GET", "/api/v1/log")[0])
    except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as exc:
        tally.error(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def _load(srv: Service, log: Path) -> None:
    bodies = [[json.dumps(hashedrekord(f"load-{c}-{r}".encode())).encode() for r in range(ROUNDS)]
              for c in range(CONNECTIONS)]  # fmt: skip
    tally = _Tally()
    start = threading.Barrier(CONNECTIONS, timeout=60)
    threads = [threading.Thread(target=_connection, args=(srv.port, bodies[c], start, tally))
               for c in range(CONNECTIONS)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tally.errors == [], f"{len(tally.errors)} connection errors: {tally.errors[:5]}"
    n = CONNECTIONS * ROUNDS
    assert tally.answers == Counter({("create", 201): n, ("duplicate", 409): n,
                                     ("entry", 200): n, ("log", 200): n})  # fmt: skip
    assert len(tally.created) == n
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    status, data, _ = _ask(conn, "GET", "/api/v1/log")
    assert status == 200 and json.loads(data)["treeSize"] == n
    assert "Traceback" not in log.read_text()


def test_64_keep_alive_connections_all_get_complete_answers_on_sqlite(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with Service("rekor", "--data-dir", str(tmp_path / "rekor"), log=log,
                 env={k: v for k, v in os.environ.items() if k != "SIGSTACK_SERVER"}) as srv:  # fmt: skip
        _load(srv, log)


@pytest.mark.postgres
def test_64_keep_alive_connections_all_get_complete_answers_on_postgres(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with fresh_postgres() as url:
        env = {k: v for k, v in os.environ.items() if k != "SIGSTACK_SERVER"}
        with Service("rekor", "--data-dir", str(tmp_path / "rekor"), "--database-url", url,
                     log=log, env=env) as srv:  # fmt: skip
            _load(srv, log)

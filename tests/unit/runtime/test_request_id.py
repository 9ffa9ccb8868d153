"""Request ids: one random prefix per process, the same for every thread of a freshly forked
worker (a burst of first requests on several threads once got two prefixes in one process,
tests/integration/tsa/test_concurrency.py), and a different one in each forked child."""

from __future__ import annotations

import os
import sys
import threading

from sigstack.services.runtime.observe import new_request_id

THREADS = 32


def _prefixes_in_a_fresh_child() -> set[str]:
    """Fork; in the child, THREADS threads ask for their first request id at once; the
    prefixes they got come back through a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no pytest machinery from here on
        try:
            sys.setswitchinterval(1e-6)
            start, got = threading.Barrier(THREADS), []
            lock = threading.Lock()

            def one() -> None:
                start.wait()
                rid = new_request_id()
                with lock:
                    got.append(rid[:16])

            threads = [threading.Thread(target=one) for _ in range(THREADS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            os.write(write, " ".join(got).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read().decode()
    os.waitpid(pid, 0)
    return set(data.split())


def test_every_thread_of_a_forked_process_gets_the_same_prefix() -> None:
    for _ in range(20):
        assert len(_prefixes_in_a_fresh_child()) == 1


def test_each_process_has_its_own_prefix_and_ids_do_not_repeat() -> None:
    mine = new_request_id()[:16]
    children = [_prefixes_in_a_fresh_child().pop() for _ in range(3)]
    assert len({mine, *children}) == 4
    ids = [new_request_id() for _ in range(1000)]
    assert len(set(ids)) == 1000 and all(len(i) == 32 for i in ids)

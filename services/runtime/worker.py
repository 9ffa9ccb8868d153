"""A gunicorn worker that gives each open connection a thread of its own (blocking I/O).

gunicorn's ``gthread`` worker hands every request between threads: a poller thread waits for a
readable socket, submits it to a thread pool, and after the answer the connection goes back to the
poller through a wake-up pipe. On our small requests that hand-off, the epoll (un)registration and
the GIL changing hands cost about as much CPU as the request itself (bench/README.md, "HTTP
worker"). Here a pool of ``threads`` threads takes accepted connections from a queue and each
serves its connection to the end: parse a request, call the app, write the answer, read the next
one (HTTP/1.1 keep-alive), with no hand-off in between.

A thread on an idle keep-alive connection is a thread not serving others, so:

- while connections wait in the queue, an answer closes its connection (``Connection: close``)
  instead of keeping it, and an idle keep-alive connection is closed as soon as someone waits;
- an idle connection is closed after ``keepalive`` seconds, as in gunicorn, and a client that stops
  sending or reading in the middle of a request after ``IO_TIMEOUT`` seconds;
- a worker asked to stop (SIGTERM) stops accepting, finishes the requests in progress for up to
  ``graceful_timeout`` seconds and closes idle connections.

The HTTP parsing, WSGI environment and response writing are gunicorn's own (``gunicorn.http``).
"""

from __future__ import annotations

import errno
import os
import queue
import select
import selectors
import socket
import struct
import threading
import time
from datetime import timedelta
from typing import Any

from gunicorn import http, util
from gunicorn.http import wsgi
from gunicorn.workers import base

IDLE_POLL = 0.05  # seconds between looks at the queue while a keep-alive connection is idle
IO_TIMEOUT = 15  # seconds a blocked read or write of a request may wait for the client
_LISTENER, _PIPE = object(), object()
QUIET_ERRNOS = (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EAGAIN, errno.ETIMEDOUT, None)


class ConnectionWorker(base.Worker):  # type: ignore[misc]
    def init_process(self) -> None:
        self.pending: queue.SimpleQueue[tuple[socket.socket, Any, Any] | None] = queue.SimpleQueue()
        self.waiting = 0  # accepted connections no thread has taken yet
        self.count_lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        super().init_process()

    # ---- accepting (main thread) ---------------------------------------------------------------

    def run(self) -> None:
        for i in range(max(1, self.cfg.threads)):
            t = threading.Thread(target=self._serve_forever, name=f"http-{i}", daemon=True)
            t.start()
            self.threads.append(t)
        sel = selectors.DefaultSelector()
        for s in self.sockets:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, _LISTENER)
        sel.register(self.PIPE[0], selectors.EVENT_READ, _PIPE)
        next_sweep = time.monotonic() + 1.0
        while self.alive:
            self.notify()
            for key, _ in sel.select(1.0):
                if key.data is _PIPE:
                    os.read(self.PIPE[0], 1)
                elif key.data is _LISTENER:
                    self._accept(key.fileobj, sel)
                else:  # a new connection has sent its first bytes: now it needs a thread
                    sel.unregister(key.fileobj)
                    addr, listener, _ = key.data
                    self._dispatch(key.fileobj, addr, listener)
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + 1.0
                self._close_silent(sel, now)
            if not self.is_parent_alive():
                break
        self._close_silent(sel, float("inf"))
        self._shutdown()

    def is_parent_alive(self) -> bool:
        if self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            return False
        return True

    def _accept(self, listener: Any, sel: selectors.BaseSelector) -> None:
        """Accept one connection (one per wake-up, so that the workers sharing the listening socket
        share the connections). It gets a thread once it has sent something, so connections that
        stay silent cost no thread (and are closed after IO_TIMEOUT)."""
        if self.alive:
            try:
                client, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EMFILE, errno.ENFILE):
                    return
                raise
            client.setblocking(True)
            # A client that stops sending (or reading) mid-request loses its connection after
            # IO_TIMEOUT seconds instead of holding a thread: kernel timeouts, no extra poll().
            timeval = struct.pack("ll", IO_TIMEOUT, 0)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            util.close_on_exec(client)
            deadline = time.monotonic() + IO_TIMEOUT
            sel.register(client, selectors.EVENT_READ, (addr, listener, deadline))

    def _close_silent(self, sel: selectors.BaseSelector, now: float) -> None:
        for key in list(sel.get_map().values()):
            if isinstance(key.data, tuple) and key.data[2] <= now:
                sel.unregister(key.fileobj)
                util.close_graceful(key.fileobj)

    def _dispatch(self, client: Any, addr: Any, listener: Any) -> None:
        with self.count_lock:
            self.waiting += 1
        self.pending.put((client, addr, listener))

    def _shutdown(self) -> None:
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass
        for _ in self.threads:
            self.pending.put(None)
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))

    # ---- serving (pool threads) ----------------------------------------------------------------

    def _serve_forever(self) -> None:
        while True:
            item = self.pending.get()
            if item is None:
                return
            with self.count_lock:
                self.waiting -= 1
            client, addr, listener = item
            try:
                self._serve_connection(client, addr, listener)
            finally:
                util.close_graceful(client)

    def _crowded(self) -> bool:
        return self.waiting > 0 or not self.alive

    def _idle_wait(self, client: socket.socket) -> bool:
        """Wait for the next request on a kept-alive connection; False means close it."""
        deadline = time.monotonic() + self.cfg.keepalive
        poller = select.poll()
        poller.register(client, select.POLLIN)
        while True:
            if self._crowded():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if poller.poll(1000 * min(IDLE_POLL, left)):
                return True

    def _serve_connection(self, client: socket.socket, addr: Any, listener: Any) -> None:
        if self.cfg.is_ssl:
            from gunicorn import sock

            client = sock.ssl_wrap_socket(client, self.cfg)
        parser = http.get_parser(self.cfg, client, addr)
        req = None
        try:
            while True:
                req = next(parser)
                if not self._handle_request(listener, req, client, addr):
                    return
                if not self._idle_wait(client):
                    return
        except (StopIteration, http.errors.NoMoreData):
            return
        except OSError as exc:
            if exc.errno not in QUIET_ERRNOS:
                self.log.exception("Socket error processing request.")
        except Exception as exc:  # gunicorn answers 400s for parse errors, 500 otherwise
            self.handle_error(req, client, addr, exc)

    def _handle_request(self, listener: Any, req: Any, client: socket.socket, addr: Any) -> bool:
        """Serve one request; True when the connection stays open for the next."""
        environ: dict[str, Any] = {}
        resp = None
        try:
            self.cfg.pre_request(self, req)
            started = time.monotonic()
            resp, environ = wsgi.create(req, client, addr, listener.getsockname(), self.cfg)
            environ["wsgi.multithread"] = True
            self.nr += 1
            if self.nr >= self.max_requests:
                if self.alive:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
            if self._crowded():
                resp.force_close()
            respiter = self.wsgi(environ, resp.start_response)
            try:
                if isinstance(respiter, environ["wsgi.file_wrapper"]):
                    resp.write_file(respiter)
                else:
                    for item in respiter:
                        resp.write(item)
                resp.close()
            finally:
                self.log.access(resp, req, environ, timedelta(seconds=time.monotonic() - started))
                if hasattr(respiter, "close"):
                    respiter.close()
            return bool(resp.should_close() is False and self.alive)
        except OSError:
            raise
        except Exception:
            if resp is not None and resp.headers_sent:
                self.log.exception("Error handling request")
                return False
            raise
        finally:
            try:
                self.cfg.post_request(self, req, environ, resp)
            except Exception:
                self.log.exception("Exception in post_request hook")

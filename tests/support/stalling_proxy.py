"""A TCP proxy on 127.0.0.1 in front of a real server (SeaweedFS's S3) that can leave the next
requests of a kind unanswered, or answer them with an error, then passes everything else through:
a slow or overloaded store with real sockets and real timeouts, and the real store behind it.

    with StallingProxy(upstream_port) as proxy:
        proxy.hold(b"list-type=2")               # the next listing gets no answer
        proxy.answer(b"list-type=2", 503, times=2)  # the next two get a 503 SlowDown

A request is recognised by its request line, so only the first request of each connection is
looked at: a client that timed out or was answered `Connection: close` opens a new one.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from http import HTTPStatus

HOLD_SECONDS = 30  # longer than any timeout under test; stop() ends the wait at once


@dataclasses.dataclass
class _Plan:
    marker: bytes  # in the request line
    status: int | None  # the answer, or None: no answer
    left: int  # requests still to treat so


class StallingProxy:
    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._plans: list[_Plan] = []
        self._sockets: set[socket.socket] = set()
        self.held = 0
        self.answered = 0
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def hold(self, marker: bytes, times: int = 1) -> None:
        """Leave the next `times` requests whose request line holds `marker` unanswered."""
        with self._lock:
            self._plans.append(_Plan(marker, None, times))

    def answer(self, marker: bytes, status: int, times: int = 1) -> None:
        """Answer the next `times` such requests with `status` (an S3 error body), unforwarded."""
        with self._lock:
            self._plans.append(_Plan(marker, status, times))

    def __enter__(self) -> StallingProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _close(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        head = _read_request_line(client)
        if head is None:
            return _close(client)
        plan = self._take(head.split(b"\r\n", 1)[0])
        if plan is None:
            return self._forward(client, head)
        if plan.status is None:
            with self._lock:
                self.held += 1
            self._stopping.wait(HOLD_SECONDS)
        else:
            with self._lock:
                self.answered += 1
            _answer(client, head, plan.status)
        _close(client)

    def _take(self, request_line: bytes) -> _Plan | None:
        with self._lock:
            for plan in self._plans:
                if plan.marker in request_line and plan.left > 0:
                    plan.left -= 1
                    return plan
        return None

    def _forward(self, client: socket.socket, head: bytes) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            return _close(client)
        upstream.settimeout(None)
        self._track(upstream)
        upstream.sendall(head)
        back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
        self._threads.append(back)
        back.start()
        _pipe(client, upstream)

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)


def _read_request_line(client: socket.socket) -> bytes | None:
    """The bytes read until the request line is whole (they are forwarded as they are)."""
    data = b""
    while b"\r\n" not in data:
        try:
            chunk = client.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data


def _answer(client: socket.socket, head: bytes, status: int) -> None:
    phrase = HTTPStatus(status).phrase
    code = "SlowDown" if status == 503 else phrase.replace(" ", "")
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{phrase}</Message></Error>'
    try:
        while b"\r\n\r\n" not in head:  # the rest of the request's headers (a listing has no body)
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        client.sendall((f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/xml\r\n"
                        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode())
    except OSError:
        pass


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()

"""The request-body bombs against a live registry (gunicorn, `registry serve`), over raw HTTP with
chunked transfer encoding where it matters, on both databases: each answers a small JSON 4xx within
10 s, and no worker's peak memory grows by more than 300 MB while answering it."""

from __future__ import annotations

import itertools
import json
import re
import select
import socket
import time
from pathlib import Path

import pytest

from registry import Settings, create_app
from registry.db import Base
from registry.api.json_input import MAX_DEPTH
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import TestRegistry, build_tree
from tests.support.hostile_bodies import (MIB, gzipped, int_list, nested_json_text, nested_lists,
                                          spaces_then_empty_list)
from tests.support.live_server import LiveRegistry

TIME_LIMIT = 10  # seconds per bomb, generous for a shared machine
MEMORY_LIMIT = 300 * MIB  # growth of a worker's peak resident memory
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def server(database_url, tmp_path_factory):
    """One live registry for the module (a gunicorn start per bomb would be slow); its rows are
    deleted at the end, as clean_database does after each test."""
    tmp = tmp_path_factory.mktemp("hostile")
    settings = Settings(data_dir=tmp / "data", database_url=database_url, secret_key=TEST_SECRET_KEY)
    app = create_app(settings)
    helper = TestRegistry(app)
    helper.create_user("hostile")
    token = helper.token("hostile")
    try:
        with LiveRegistry(settings, tmp / "server.log") as live:
            live.token = token
            yield live
    finally:
        with app.extensions["registry"].engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())
        app.extensions["registry"].engine.dispose()


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def send(server, method: str, path: str, body, headers: dict[str, str]):
    """One request on a fresh connection, as a careful client sends it: an iterable body goes out
    chunked (no Content-Length), and the client stops sending once the server has answered (the
    server stops reading at the cap and closes the connection). Returns (status, headers, body)."""
    chunked = not isinstance(body, bytes)
    head = {"Host": f"127.0.0.1:{server.port}", "Authorization": f"Bearer {server.token}", **headers,
            **({"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(len(body))})}
    request = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head.items()) + "\r\n"
    pieces = itertools.chain([request.encode()], (_frame(c) for c in body if c) if chunked else [body],
                             [b"0\r\n\r\n"] if chunked else [])
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.setblocking(False)
        pending, answer = b"", b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not pending:
                pending = next(pieces, b"")
            readable, writable, _ = select.select([sock], [sock] if pending else [], [], 1)
            if readable:
                break
            if writable:
                try:
                    pending = pending[sock.send(pending[:CHUNK]):]
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server answered and closed; its answer is waiting to be read
        sock.setblocking(True)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if _complete(answer):
                    break
        except ConnectionResetError:
            pass
    return _parse(answer)


def _frame(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _complete(answer: bytes) -> bool:
    head, separator, body = answer.partition(b"\r\n\r\n")
    if not separator:
        return False
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def _parse(answer: bytes):
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), headers, body


def tree_body(levels: int) -> bytes:
    tree = '{"d": {"type": "GROUP", "children": ' * levels + "{}" + "}}" * levels
    return ('{"dry_run": true, "description": "", "sizes": {}, "contents": {"type": "ROOT", "children": %s}}'
            % tree).encode()


def metadata_body(depth: int) -> bytes:
    node = '{"type": "FILE", "hashes": ["%s"], "metadata": %s}' % ("0" * 64, nested_json_text(depth))
    return ('{"dry_run": true, "description": "", "sizes": {}, "contents": {"type": "ROOT", "children": {"f": %s}}}'
            % node).encode()


def sizes_bomb(entries: int):
    yield b'{"description": "", "contents": {"type": "ROOT", "children": {}}, "sizes": {'
    for _ in range(entries // 1_000_000):
        yield b'"k":0,' * 1_000_000
    yield b'"k":0}}'


def values_at_the_cap(count: int):
    """A push body of about `count` counted JSON values, each a short string: the most Python
    memory per value (a str object each, ~60 bytes)."""
    yield b'{"description": "", "contents": {"type": "ROOT", "children": {}}, "sizes": {}, "bulk": ["ab"'
    for _ in range(count // 1_000_000):
        yield b',"ab"' * 1_000_000
    yield b',"ab"' * (count % 1_000_000) + b"]}"


def surrogate_body() -> bytes:
    contents, _ = build_tree({"a.txt": b"a"})
    body = {"dry_run": True, "description": "", "contents": contents, "sizes": {}}
    return json.dumps(body).replace('"a.txt"', '"a\\ud800.txt"').encode()


def too_large(message: str) -> dict:
    return {"message": message, "code": "payload_too_large", "status": 413}


def bad_request(message: str) -> dict:
    return {"message": message, "code": "bad_request", "status": 400}


PUSH = "/api/package/hostile/demo/" + "0" * 64
GZIP = {"Content-Encoding": "gzip"}
SMALL_CAP_413 = too_large(f"Request body larger than {8 * MIB} bytes")
PUSH_CAP_413 = too_large(f"Request body larger than {100 * MIB} bytes")
TOO_DEEP = bad_request(f"The request body is nested deeper than {MAX_DEPTH} levels")

BOMBS = {
    "150 MiB of spaces, chunked, to get_objects": (
        "POST", "/api/get_objects", lambda: spaces_then_empty_list(150 * MIB), {}, 413, SMALL_CAP_413),
    "150 MiB of spaces, chunked, to a push": (
        "PUT", PUSH, lambda: spaces_then_empty_list(150 * MIB), {}, 413, PUSH_CAP_413),
    "150 MiB gzipped, chunked, to a push": (
        "PUT", PUSH, lambda: gzipped(spaces_then_empty_list(150 * MIB)), GZIP, 413, PUSH_CAP_413),
    "2 KB of gzip inflating to a million ints": (
        "POST", "/api/get_objects", lambda: b"".join(gzipped(int_list(1_000_000))), GZIP, 413,
        too_large("The request body holds more than 200000 JSON values")),
    "94 KB of gzip inflating to 50 million ints, chunked": (
        "POST", "/api/get_objects", lambda: gzipped(int_list(50_000_000)), GZIP, 413, SMALL_CAP_413),
    "push sizes of 5 million entries, gzipped": (
        "PUT", PUSH, lambda: b"".join(gzipped(sizes_bomb(5_000_000))), GZIP, 413,
        too_large("The request body holds more than 3000000 JSON values")),
    "a push just under the value cap, in the costliest shape": (
        "PUT", PUSH, lambda: b"".join(gzipped(values_at_the_cap(2_999_000))), GZIP, 400,
        {"message": "Invalid request: bulk: Unknown field.", "code": "bad_request", "status": 400,
         "errors": {"bulk": ["Unknown field."]}}),
    "100,000 nested lists": ("POST", "/api/get_objects", lambda: nested_lists(100_000), {}, 400, TOO_DEEP),
    "a tree 1,000 levels deep": ("PUT", PUSH, lambda: tree_body(1000), {}, 400, TOO_DEEP),
    "metadata nested 500 deep": ("PUT", PUSH, lambda: metadata_body(500), {}, 400, TOO_DEEP),
    "a comment nested 50,000 deep": (
        "POST", "/api/comments/hostile/demo/", lambda: ('{"contents": %s}' % nested_json_text(50_000)).encode(),
        {}, 400, TOO_DEEP),
    "a lone surrogate in a node name": (
        "PUT", PUSH, surrogate_body, {}, 400,
        bad_request("The request body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")),
}


@pytest.mark.parametrize("case", BOMBS)
def test_bombs_get_a_small_json_4xx_in_bounded_time_and_memory(server, case):
    method, path, make_body, headers, status, expected = BOMBS[case]
    body = make_body()
    workers = worker_pids(server.process.pid)
    assert len(workers) == 2
    before = {}
    for pid in workers:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # restart the peak (VmHWM) from the current size
        before[pid] = memory_kb(pid, "VmRSS")
    started = time.monotonic()
    answered, answer_headers, answer = send(server, method, path, body, {"Content-Type": "application/json", **headers})
    elapsed = time.monotonic() - started
    assert (answered, answer_headers["Content-Type"], json.loads(answer)) == (status, "application/json", expected)
    assert len(answer) < 1024
    assert elapsed < TIME_LIMIT, f"{case} took {elapsed:.1f} s"
    growth = max(memory_kb(pid, "VmHWM") - before[pid] for pid in workers) * 1024
    assert growth < MEMORY_LIMIT, f"{case} grew a worker by {growth / MIB:.0f} MiB"
    assert worker_pids(server.process.pid) == workers, "a worker died"

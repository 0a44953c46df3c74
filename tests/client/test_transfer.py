"""Transfers and registry sessions against a small scripted HTTP server on the loopback: retries
on 5xx, the exact upload requests, refusal of wrong bytes, and friendly errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry_client import Settings
from registry_client.errors import IntegrityError, NotFound, RegistryUnavailable, TransferError
from registry_client.session import RegistrySession
from registry_client.store import ObjectStore
from registry_client.transfer import Download, TransferOptions, Transfers
from registry_client.uploads import Planned, PlannedUploads

MiB = 1024 * 1024


class Script(BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, headers, body) for its path."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append((self.command, self.path, dict(self.headers), body))
        status, headers, payload = self.server.replies[self.path].pop(0)
        self.send_response(status)
        for name, value in {"Content-Length": str(len(payload)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_HEAD = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    httpd.seen, httpd.replies = [], {}
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def transfers(**options) -> Transfers:
    return Transfers(TransferOptions(workers=2, retries=2, backoff=0.01, **options))


def test_download_retries_5xx_and_verifies(server, tmp_path):
    data = b"x" * 1000
    digest = hashlib.sha256(data).hexdigest()
    server.replies["/good"] = [(503, {}, b"busy"), (500, {}, b"oops"),
                               (206, {"Content-Range": "bytes 0-999/1000"}, data)]
    store = ObjectStore(tmp_path)
    assert transfers().download([Download(digest, f"{server.url}/good", 1000)], store) == 1
    assert store.path(digest).read_bytes() == data
    assert [seen[2].get("Range") for seen in server.seen] == ["bytes=0-"] * 3
    assert transfers().download([Download(digest, f"{server.url}/good", 1000)], store) == 0  # already there

    wrong = hashlib.sha256(b"other").hexdigest()
    server.replies["/bad"] = [(206, {"Content-Range": "bytes 0-999/1000"}, data)]
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        transfers().download([Download(wrong, f"{server.url}/bad", 1000)], store)
    assert not store.has(wrong) and list(store.tmp.iterdir()) == []

    server.replies["/range"] = [(206, {"Content-Range": "bytes 5-999/1000"}, data)]
    with pytest.raises(TransferError, match="Unexpected Content-Range"):
        transfers().download([Download(wrong, f"{server.url}/range", 1000)], store)
    server.replies["/gone"] = [(503, {}, b"")] * 3
    with pytest.raises(TransferError, match="HTTP 503"):
        transfers().download([Download(wrong, f"{server.url}/gone", 1000)], store)


def test_planned_uploads_put_raw_bytes_with_the_signed_headers(server, tmp_path):
    store = ObjectStore(tmp_path)
    present, _ = store.add_bytes(b"already there")
    fresh, _ = store.add_bytes(b"new bytes")
    empty, _ = store.add_bytes(b"")
    server.replies.update({"/put/fresh": [(502, {}, b""), (200, {}, b"")], "/put/empty": [(200, {}, b"")]})
    signed = {"x-amz-checksum-sha256": "c2lnbmVk"}

    def planned(hash_, name, action="single"):
        entry = {"action": action, "url": f"{server.url}/put/{name}", "headers": signed}
        return Planned(hash_, store.path(hash_), store.size(hash_), entry)

    items = [planned(present, "present", "stored"), planned(fresh, "fresh"), planned(empty, "empty")]
    assert PlannedUploads(transfers(), None, "alice", "x").run(items, "Pushing") == 2
    assert {method for method, *_ in server.seen} == {"PUT"}  # nothing for the stored one, no HEAD
    puts = [(path, headers, body) for method, path, headers, body in server.seen]
    assert sorted((path, body) for path, _, body in puts) == [
        ("/put/empty", b""), ("/put/fresh", b"new bytes"), ("/put/fresh", b"new bytes")]
    for path, headers, _ in puts:
        assert "Content-Type" not in headers and "Authorization" not in headers
        assert headers["Content-Length"] == ("0" if path == "/put/empty" else "9")
        assert headers["x-amz-checksum-sha256"] == "c2lnbmVk"

    # An expired URL: the plan is asked again for that fragment, and the fresh URL is used once.
    session = RegistrySession(server.url, Settings.at(tmp_path), retries=0)
    replan = {"fragments": {fresh: {"action": "single", "url": f"{server.url}/put/renewed", "headers": signed}}}
    server.replies.update({"/put/fresh": [(403, {}, b"expired")], "/put/renewed": [(200, {}, b"")],
                           "/api/v2/push-plan/alice/x": [(200, {"Content-Type": "application/json"},
                                                          json.dumps(replan).encode())]})
    server.seen.clear()
    PlannedUploads(transfers(), session, "alice", "x").run(items[1:2], "Pushing")
    assert [(method, path) for method, path, *_ in server.seen] == [
        ("PUT", "/put/fresh"), ("POST", "/api/v2/push-plan/alice/x"), ("PUT", "/put/renewed")]
    assert json.loads(server.seen[1][3]) == {"fragments": {fresh: 9}}
    assert server.seen[2][3] == b"new bytes"

    # Refused again with the fresh URL: a clear error, not a loop.
    server.replies.update({"/put/fresh": [(403, {}, b"expired")], "/put/renewed": [(403, {}, b"denied")],
                           "/api/v2/push-plan/alice/x": [(200, {"Content-Type": "application/json"},
                                                          json.dumps(replan).encode())]})
    with pytest.raises(TransferError, match="refused the upload"):
        PlannedUploads(transfers(), session, "alice", "x").run(items[1:2], "Pushing")


def test_registry_errors_and_retries(server, tmp_path):
    session = RegistrySession(server.url, Settings.at(tmp_path), retries=2, backoff=0.01)
    server.replies["/api/log/alice/x/"] = [(503, {}, b"busy"), (200, {}, b'{"logs": []}')]
    assert session.request("GET", "/api/log/alice/x/") == {"logs": []}
    message = json.dumps({"message": "Package alice/y does not exist", "code": "not_found", "status": 404})
    server.replies["/api/log/alice/y/"] = [(404, {"Content-Type": "application/json"}, message.encode())]
    with pytest.raises(NotFound) as missing:
        session.request("GET", "/api/log/alice/y/")
    assert missing.value.message == "Package alice/y does not exist" and "sign in first" in missing.value.hint
    server.replies["/api/log/alice/z/"] = [(500, {}, b"<html>boom</html>")] * 3  # a GET is tried 3 times
    with pytest.raises(RegistryUnavailable, match=r"failed \(HTTP 500\): HTTP 500"):
        session.request("GET", "/api/log/alice/z/")
    unreachable = RegistrySession("http://127.0.0.1:9", Settings.at(tmp_path), retries=0)
    with pytest.raises(RegistryUnavailable, match="Cannot reach the registry"):
        unreachable.request("GET", "/api/search/")


def test_part_checksums_are_kept_next_to_the_store(tmp_path):
    store = ObjectStore(tmp_path)
    data = bytes(range(256)) * 41  # 10,496 bytes: parts of 4,096, 4,096 and 2,304
    hash_, size = store.add_bytes(data)
    expected = [base64.b64encode(hashlib.sha256(data[start:start + 4096]).digest()).decode()
                for start in (0, 4096, 8192)]
    assert store.part_checksums(hash_, 4096) == expected
    # Kept: a resumed push signs its parts without reading the file again.
    store.path(hash_).write_bytes(b"x" * size)  # same size, other bytes: the kept checksums answer
    assert store.part_checksums(hash_, 4096) == expected
    # Per part size, and a damaged record is computed again.
    assert len(store.part_checksums(hash_, 8192)) == 2
    (tmp_path / "parts" / f"{hash_}.4096").write_text("not json")
    assert store.part_checksums(hash_, 4096) == [
        base64.b64encode(hashlib.sha256(b"x" * n).digest()).decode() for n in (4096, 4096, 2304)]


def test_a_big_download_comes_in_ranges_with_a_bar_of_its_own(server, tmp_path, capsys):
    data = bytes(range(250)) * 8  # 2,000 bytes in two ranges of 1,000
    digest = hashlib.sha256(data).hexdigest()
    server.replies["/big"] = [(206, {"Content-Range": "bytes 0-999/2000"}, data[:1000]),
                              (206, {"Content-Range": "bytes 1000-1999/2000"}, data[1000:])]
    options = TransferOptions(workers=1, retries=0, progress=True, ranged_above=1000, range_bytes=1000)
    store = ObjectStore(tmp_path)
    assert Transfers(options).download([Download(digest, f"{server.url}/big", 2000)], store) == 1
    assert store.path(digest).read_bytes() == data
    assert [headers["Range"] for _, _, headers, _ in server.seen] == ["bytes=0-999", "bytes=1000-1999"]
    shown = capsys.readouterr().err
    assert f"{digest[:12]} in ranges" in shown and "Downloading" in shown and "Files" in shown
    assert list(store.tmp.iterdir()) == []  # the file and its range counts are gone once kept


def bytes_read() -> int:
    text = Path("/proc/self/io").read_text()
    return int(dict(line.split(": ") for line in text.splitlines())["rchar"])


def test_an_unchanged_file_is_not_read_again(tmp_path):
    store, source = ObjectStore(tmp_path / "store"), tmp_path / "data.bin"
    source.write_bytes(b"a" * MiB)
    first = store.add_file(source)  # just written: too fresh to be remembered
    before = bytes_read()
    assert store.add_file(source) == first and bytes_read() - before >= MiB
    old = time.time() - 60
    os.utime(source, (old, old))
    store.add_file(source)
    before = bytes_read()
    assert store.add_file(source) == first and bytes_read() - before < MiB // 4  # not read
    # Same size, the old mtime put back: its ctime changed, so it is read and hashed again.
    source.write_bytes(b"b" * MiB)
    os.utime(source, (old, old))
    assert store.add_file(source) == (hashlib.sha256(b"b" * MiB).hexdigest(), MiB)
    # A stored object that went missing is copied in again, not trusted from the record.
    changed = store.add_file(source)
    store.path(changed[0]).unlink()
    assert store.add_file(source) == changed and store.path(changed[0]).read_bytes() == b"b" * MiB

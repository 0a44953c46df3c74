"""Transfers and registry sessions against a small scripted HTTP server on the loopback: retries
on 5xx, the exact upload requests, refusal of wrong bytes, and friendly errors."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from registry_client import Settings
from registry_client.errors import IntegrityError, NotFound, RegistryUnavailable, TransferError
from registry_client.session import RegistrySession
from registry_client.store import ObjectStore
from registry_client.transfer import Download, TransferOptions, Transfers
from registry_client.uploads import Planned, PlannedUploads


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

    server.replies.update({"/put/fresh": [(403, {}, b"expired")]})
    with pytest.raises(TransferError, match="refused the upload"):
        PlannedUploads(transfers(), None, "alice", "x").run(items[1:2], "Pushing")


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

"""Holes a review of the hardening found, each closed: page form bodies are capped like API
bodies, hashes are whole SHA-256 digests everywhere (no trailing newline or spaces, which
MariaDB's CHAR comparison would ignore), odd Content-Length digits and huge ids are 4xx, and
an over-long search word is a 400 rather than a database error reported as an outage."""

from __future__ import annotations

import json

from werkzeug.test import EnvironBuilder, run_wsgi_app

from tests.helpers import sha256
from tests.support.hostile_bodies import MIB, ChunkStream
from tests.web.pages import csrf, sign_in, text



def _send(registry, method: str, path: str, stream: ChunkStream, headers: dict, length: str | None = None):
    environ = EnvironBuilder(path, method=method, headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True})
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    body, status, _ = run_wsgi_app(registry.app, environ, buffered=True)
    return int(status.split()[0]), b"".join(body)


def test_a_huge_sign_in_form_stops_at_the_page_cap(registry):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    declared, _ = _send(registry, "POST", "/login", ChunkStream([b"x" * 10]), form, length=str(100 * MIB))
    assert declared == 413
    chunks = [b"username=" + b"a" * 65536] + [b"a" * 65536] * 40  # 2.6 MiB, no Content-Length
    streamed, page = _send(registry, "POST", "/login", ChunkStream(chunks), form)
    assert streamed == 413 and b"<html" in page.lower()


def test_a_form_within_the_cap_still_signs_in(registry):
    registry.create_user("alice", password="a long password")
    assert sign_in(registry.client, "alice", "a long password").status_code == 302


def test_a_hash_with_a_trailing_newline_is_not_a_hash(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    digest = sha256(b"x")
    tree = {"type": "ROOT", "children": {"x": {"type": "FILE", "hashes": [digest + "\n"], "metadata": {}}}}
    body = {"dry_run": True, "description": "", "contents": tree, "sizes": {}}
    dry = registry.api("PUT", f"/api/package/alice/nl/{'0' * 64}", token=token, body=body)
    assert dry.status_code == 400
    objects = registry.api("POST", "/api/get_objects", token=token, body=[digest + "\n"])
    assert objects.status_code == 400


def test_a_tophash_with_trailing_spaces_is_a_missing_instance(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    response, top_hash = registry.push(token, "alice", "pub", {"a.txt": b"a"}, is_public=True)
    assert response.status_code == 200
    assert registry.api("GET", f"/api/package/alice/pub/{top_hash}").status_code == 200
    for suffix in ("%20", "%20%20", "%0A"):
        missing = registry.api("GET", f"/api/package/alice/pub/{top_hash}{suffix}")
        assert missing.status_code == 404, suffix
        assert registry.api("GET", f"/api/package_preview/alice/pub/{top_hash}{suffix}").status_code == 404
        assert registry.client.get(f"/package/alice/pub/{top_hash}{suffix}").status_code == 404


def test_a_content_length_of_non_ascii_digits_is_a_400(registry):
    status, body = _send(registry, "POST", "/api/get_objects", ChunkStream([b"[]"]),
                         {"Content-Type": "application/json"}, length="\u00b2")
    assert (status, json.loads(body)) == (400, {"message": "Invalid Content-Length", "code": "bad_request",
                                                "status": 400})


def test_ids_beyond_a_bigint_are_404s_on_the_account_page(registry):
    registry.create_user("alice", password="a long password")
    assert sign_in(registry.client, "alice", "a long password").status_code == 302
    token = csrf(text(registry.client.get("/account")))
    for kind in ("tokens", "sessions"):
        response = registry.client.post(f"/account/{kind}/{10**23}/revoke", data={"csrf_token": token})
        assert response.status_code == 404, kind


def test_an_over_long_search_word_is_a_400(registry):
    response = registry.api("GET", "/api/search/?q=" + "a" * 50_001)
    assert (response.status_code, response.get_json()) == (
        400, {"message": "Search terms are at most 256 characters", "code": "bad_request", "status": 400})
    assert registry.client.get("/search?q=" + "a" * 50_001).status_code == 400

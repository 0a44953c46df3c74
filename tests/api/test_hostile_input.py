"""Hostile request bodies, in process, on both databases: every body is counted as it streams
(chunked or not, identity or gzip) and capped with a JSON 413; JSON nesting, value counts and
lone surrogates are JSON 400s; validation errors are small. The same bombs against a live
gunicorn server, with time and memory bounds, are in test_hostile_live.py."""

from __future__ import annotations

import gzip
import json
import os

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from registry import Settings, create_app
from registry.api.json_input import MAX_DEPTH
from registry.tree import tophash
from tests.helpers import TestRegistry, build_tree, sha256
from tests.support.hostile_bodies import (MIB, ChunkStream, deep_tree, gzipped, int_list, nested_json_text,
                                          nested_lists, spaces_then_empty_list)

SMALL_CAP = 8 * MIB  # the default for every /api body but a push
PUSH_CAP = 100 * MIB
CHUNK = 64 * 1024  # the server reads at most this much past a cap


def too_large(limit: int) -> dict:
    return {"message": f"Request body larger than {limit} bytes", "code": "payload_too_large", "status": 413}


def bad_request(message: str) -> dict:
    return {"message": message, "code": "bad_request", "status": 400}


TOO_DEEP = bad_request(f"The request body is nested deeper than {MAX_DEPTH} levels")
LONE_SURROGATE = bad_request("The request body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")


def send_chunked(registry, method: str, path: str, stream: ChunkStream, headers: dict | None = None):
    """Send `stream` the way a chunked request arrives: no Content-Length, a stream that ends by itself."""
    environ = EnvironBuilder(path, method=method, headers=headers or {}).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": stream, "wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
    body, status, _ = run_wsgi_app(registry.app, environ, buffered=True)
    return int(status.split()[0]), json.loads(b"".join(body))


def push_path(top_hash: str = "0" * 64) -> str:
    return f"/api/package/alice/demo/{top_hash}"


def alice(registry) -> dict:
    registry.create_user("alice")
    return {"Authorization": f"Bearer {registry.token('alice')}", "Content-Type": "application/json"}


def push_body(contents: dict, **extra) -> dict:
    return {"dry_run": True, "description": "", "contents": contents, "sizes": {}, **extra}


# The cap holds while the body streams


def test_a_chunked_identity_body_stops_at_the_cap(registry):
    stream = ChunkStream(spaces_then_empty_list(150 * MIB))
    assert send_chunked(registry, "POST", "/api/get_objects", stream) == (413, too_large(SMALL_CAP))
    assert stream.bytes_read <= SMALL_CAP + CHUNK, "the body was not read to its end"


def test_a_chunked_identity_push_stops_at_the_push_cap(registry):
    headers = alice(registry)
    stream = ChunkStream(spaces_then_empty_list(150 * MIB))
    assert send_chunked(registry, "PUT", push_path(), stream, headers) == (413, too_large(PUSH_CAP))
    assert stream.bytes_read <= PUSH_CAP + CHUNK


def test_a_chunked_gzip_push_stops_at_the_cap_while_inflating(registry):
    headers = {**alice(registry), "Content-Encoding": "gzip"}
    stream = ChunkStream(gzipped(spaces_then_empty_list(150 * MIB)))
    assert send_chunked(registry, "PUT", push_path(), stream, headers) == (413, too_large(PUSH_CAP))
    compressed_total = sum(len(c) for c in gzipped(spaces_then_empty_list(150 * MIB)))
    assert stream.bytes_read < compressed_total, "stopped before the end of the compressed stream"


def test_a_declared_length_over_the_cap_is_refused_before_reading(registry):
    stream = ChunkStream([b"[]"])
    environ = EnvironBuilder("/api/get_objects", method="POST").get_environ()
    environ.update({"wsgi.input": stream, "CONTENT_LENGTH": str(SMALL_CAP + 1)})
    body, status, _ = run_wsgi_app(registry.app, environ, buffered=True)
    assert (int(status.split()[0]), json.loads(b"".join(body))) == (413, too_large(SMALL_CAP))
    assert stream.bytes_read == 0


def test_chunked_bodies_within_the_cap_work_gzipped_or_not(registry):
    headers = alice(registry)
    contents, _ = build_tree({"a.txt": b"a"})
    body = json.dumps(push_body(contents)).encode()
    path = push_path(registry.tophash(contents))
    status, answer = send_chunked(registry, "PUT", path, ChunkStream([body[:10], body[10:]]), headers)
    assert (status, set(answer)) == (200, {"upload_urls"})
    gzip_headers = {**headers, "Content-Encoding": "gzip"}
    status, answer = send_chunked(registry, "PUT", path, ChunkStream(gzipped([body])), gzip_headers)
    assert (status, set(answer)) == (200, {"upload_urls"})
    # Concatenated gzip members are one body, as gzip.decompress reads them.
    members = [gzip.compress(body[:7]), gzip.compress(body[7:])]
    status, answer = send_chunked(registry, "PUT", path, ChunkStream(members), gzip_headers)
    assert (status, set(answer)) == (200, {"upload_urls"})


def test_broken_gzip_is_a_json_400(registry):
    headers = {**alice(registry), "Content-Encoding": "gzip"}
    truncated = gzip.compress(json.dumps(push_body({})).encode())[:-12]
    for body in (b"not gzip", truncated, gzip.compress(b"{}") + b"trailing garbage"):
        response = registry.client.put(push_path(), data=body, headers=headers)
        assert (response.status_code, response.get_json()) == (400, bad_request("The request body is not valid gzip"))


def test_a_bad_content_length_is_a_json_400(registry):
    environ = EnvironBuilder("/api/get_objects", method="POST").get_environ()
    environ.update({"wsgi.input": ChunkStream([b"[]"]), "CONTENT_LENGTH": "12abc"})
    body, status, _ = run_wsgi_app(registry.app, environ, buffered=True)
    assert (int(status.split()[0]), json.loads(b"".join(body))) == (400, bad_request("Invalid Content-Length"))


# Bombs that are small on the wire


def test_a_2_kb_gzip_of_a_million_ints_is_refused_quickly_and_small(registry):
    bomb = b"".join(gzipped(int_list(1_000_000)))
    assert len(bomb) < 4096
    response = registry.client.post("/api/get_objects", data=bomb, headers={"Content-Encoding": "gzip"})
    assert (response.status_code, response.get_json()) == (413, {
        "message": "The request body holds more than 200000 JSON values", "code": "payload_too_large", "status": 413})
    assert len(response.data) < 200


def test_fifty_million_elements_stop_at_the_byte_cap(registry):
    stream = ChunkStream(gzipped(int_list(50_000_000)))
    status, answer = send_chunked(registry, "POST", "/api/get_objects", stream, {"Content-Encoding": "gzip"})
    assert (status, answer) == (413, too_large(SMALL_CAP))
    assert stream.bytes_read < 100_000


def test_hash_lists_are_checked_for_length_before_elements(registry):
    response = registry.client.post("/api/get_objects", data=b"".join(int_list(100_001)))
    assert (response.status_code, response.get_json()) == (400, {
        "message": "Invalid request: hashes: At most 100000 hashes per request, not 100001.",
        "code": "bad_request", "status": 400, "errors": {"hashes": ["At most 100000 hashes per request, not 100001."]}})


def test_only_the_first_bad_hashes_are_reported(registry):
    response = registry.client.post("/api/get_objects", data=b"".join(int_list(50_000)))
    errors = {str(i): ["must be a SHA-256 hex digest"] for i in range(5)}
    assert (response.status_code, response.get_json()) == (400, {
        "message": "Invalid request: hashes: " + "; ".join(f"{i}: must be a SHA-256 hex digest" for i in range(5)),
        "code": "bad_request", "status": 400, "errors": {"hashes": errors}})


def test_push_sizes_report_only_the_first_bad_entries(registry):
    headers = alice(registry)
    contents, _ = build_tree({"a.txt": b"a"})
    sizes = {f"k{i}": 1 for i in range(100_000)}
    response = registry.client.put(push_path(), data=json.dumps(push_body(contents, sizes=sizes)), headers=headers)
    message = "not SHA-256 hex digests: ['k0', 'k1', 'k2', 'k3', 'k4']"
    assert (response.status_code, response.get_json()) == (400, {
        "message": f"Invalid request: sizes: {message}", "code": "bad_request", "status": 400,
        "errors": {"sizes": [message]}})
    negative = {sha256(bytes([i])): -1 for i in range(20)}
    response = registry.client.put(push_path(), data=json.dumps(push_body(contents, sizes=negative)), headers=headers)
    shown = list(negative)[:5]
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"sizes": {h: ["must be a whole number of bytes, at least 0"] for h in shown}}


@pytest.mark.parametrize("bad", [True, False, 1.0, -1, "1", None, [1]])
def test_push_sizes_that_are_not_whole_numbers_of_bytes_are_named(registry, bad):
    # Among 10,000 good sizes (checked all at once unless one is bad), the bad one is named.
    headers = alice(registry)
    contents, _ = build_tree({"a.txt": b"a"})
    sizes = {sha256(str(i).encode()): i for i in range(10_000)}
    odd = sha256(b"odd")
    sizes[odd] = bad
    response = registry.client.put(push_path(), data=json.dumps(push_body(contents, sizes=sizes)), headers=headers)
    assert response.status_code == 400
    assert response.get_json()["errors"] == {"sizes": {odd: ["must be a whole number of bytes, at least 0"]}}


def test_push_sizes_may_be_zero_or_beyond_32_bits(registry):
    headers = alice(registry)
    contents, _ = build_tree({"a.txt": b"a"})
    sizes = {sha256(b"0"): 0, sha256(b"1"): 2 ** 40}  # accepted as sizes, then not the tree's fragments
    response = registry.client.put(push_path(tophash(contents)), headers=headers,
                                   data=json.dumps(push_body(contents, sizes=sizes, dry_run=False)))
    assert (response.status_code, response.get_json()["message"]) == (400, "Sizes don't match the hashes")


def test_a_flood_of_validation_errors_is_answered_with_the_first_ten(registry):
    headers = alice(registry)
    body = {"hash": "0" * 64, **{f"field{i}": 1 for i in range(1000)}}
    response = registry.client.put("/api/tag/alice/demo/latest", data=json.dumps(body), headers=headers)
    answer = response.get_json()
    assert (response.status_code, answer["code"], answer["status"]) == (400, "bad_request", 400)
    assert len(answer["errors"]) == 11 and answer["errors"]["..."] == ["990 more"]
    assert all(value == ["Unknown field."] for key, value in answer["errors"].items() if key != "...")
    assert answer["message"].startswith("Invalid request: field") and answer["message"].endswith("...: 990 more")
    assert len(response.data) < 2048


# Nesting, surrogates and encodings


def test_deeply_nested_lists_are_a_400_not_a_recursion_error(registry):
    for depth in (100_000, MAX_DEPTH + 1):
        response = registry.client.post("/api/get_objects", data=nested_lists(depth))
        assert (response.status_code, response.get_json()) == (400, TOO_DEEP)
    # Exactly MAX_DEPTH levels, lists and objects mixed, is within bounds: the parser lets it through.
    at_the_limit = "[" + nested_json_text(MAX_DEPTH - 2, "[]") + "]"
    response = registry.client.post("/api/get_objects", data=at_the_limit)
    assert response.get_json()["errors"] == {"hashes": {"0": ["must be a SHA-256 hex digest"]}}
    response = registry.client.post("/api/get_objects", data="[" + nested_json_text(MAX_DEPTH - 2, "[[]]") + "]")
    assert (response.status_code, response.get_json()) == (400, TOO_DEEP)
    # Nesting inside strings is text, not structure.
    response = registry.client.post("/api/get_objects", data=json.dumps(["[" * 1000]))
    assert response.status_code == 400 and "hashes" in response.get_json()["errors"]


def test_a_tree_a_thousand_levels_deep_is_a_400(registry):
    headers = alice(registry)
    body = ('{"dry_run": true, "description": "", "sizes": {}, "contents": {"type": "ROOT", "children": '
            + nested_tree_text(1000) + "}}")
    response = registry.client.put(push_path(), data=body, headers=headers)
    assert (response.status_code, response.get_json()) == (400, TOO_DEEP)


def nested_tree_text(levels: int) -> str:
    return '{"d": {"type": "GROUP", "children": ' * levels + "{}" + "}}" * levels


def test_a_tree_deeper_than_the_tree_limit_is_a_400(registry):
    headers = alice(registry)
    contents = deep_tree(70)
    response = registry.client.put(push_path(registry.tophash(contents)), data=json.dumps(push_body(contents)),
                                   headers=headers)
    assert (response.status_code, response.get_json()) == (400, bad_request("Invalid contents: deeper than 64 levels"))


def test_the_deepest_allowed_tree_with_metadata_still_pushes(registry):
    headers = alice(registry)
    contents = deep_tree(63)
    node = contents
    while node["children"]:
        node = next(iter(node["children"].values()))
    metadata = json.loads(nested_json_text(60, '"deep"'))
    node["children"]["f"] = {"type": "FILE", "hashes": [sha256(b"f")], "metadata": metadata}
    response = registry.client.put(push_path(registry.tophash(contents)), data=json.dumps(push_body(contents)),
                                   headers=headers)
    assert response.status_code == 200, response.get_json()


def test_metadata_nested_500_deep_is_a_400(registry):
    headers = alice(registry)
    node = '{"type": "FILE", "hashes": ["%s"], "metadata": %s}' % (sha256(b"f"), nested_json_text(500))
    body = '{"dry_run": true, "description": "", "sizes": {}, "contents": {"type": "ROOT", "children": {"f": %s}}}' % node
    response = registry.client.put(push_path(), data=body, headers=headers)
    assert (response.status_code, response.get_json()) == (400, TOO_DEEP)


def test_a_comment_nested_50000_deep_is_a_400(registry):
    headers = alice(registry)
    registry.push(registry.token("alice"), "alice", "demo", {"a.txt": b"a"})
    body = '{"contents": %s}' % nested_json_text(50_000, '"hi"')
    response = registry.client.post("/api/comments/alice/demo/", data=body, headers=headers)
    assert (response.status_code, response.get_json()) == (400, TOO_DEEP)


def test_lone_surrogates_are_a_400_wherever_they_are(registry):
    headers = alice(registry)
    token = registry.token("alice")
    registry.push(token, "alice", "demo", {"a.txt": b"a"})
    contents, _ = build_tree({"a.txt": b"a"})
    node_name = json.dumps(push_body(contents)).replace('"a.txt"', '"a\\ud800.txt"')
    message = json.dumps(push_body(contents, message="low \\udc00 half")).replace("\\\\udc00", "\\udc00")
    metadata = json.dumps(push_body(contents)).replace('"q_ext": ""', '"q_ext": "\\udbff"')
    for body in (node_name, message, metadata):
        assert "\\ud" in body
        response = registry.client.put(push_path(registry.tophash(contents)), data=body, headers=headers)
        assert (response.status_code, response.get_json()) == (400, LONE_SURROGATE)
    response = registry.client.post("/api/comments/alice/demo/", data='{"contents": "x\\ud800"}', headers=headers)
    assert (response.status_code, response.get_json()) == (400, LONE_SURROGATE)
    # A surrogate pair is one character; an escaped backslash before "ud800" is plain text.
    for text in ("\\ud83d\\ude00", "\\\\ud800"):
        response = registry.client.post("/api/comments/alice/demo/", data='{"contents": "%s"}' % text,
                                        headers=headers)
        assert response.status_code == 200, response.get_json()
    listed = registry.api("GET", "/api/comments/alice/demo/", token=token).get_json()["comments"]
    assert [c["contents"] for c in listed] == ["\U0001F600", "\\ud800"]


def test_bodies_must_be_utf8(registry):
    headers = alice(registry)
    for body in (b'{"contents": "\xff"}', b'{"contents": "\xed\xa0\x80"}'):  # not UTF-8; an encoded surrogate
        response = registry.client.post("/api/comments/alice/demo/", data=body, headers=headers)
        assert (response.status_code, response.get_json()) == (400, bad_request("The request body is not valid UTF-8"))


# What the database can hold


def push_with_metadata(registry, token: str, blob: str):
    """A real push (fragment uploaded) of one file whose metadata holds `blob`."""
    contents, blobs = build_tree({"a.txt": b"a"})
    contents["children"]["a.txt"]["metadata"]["blob"] = blob
    top_hash = registry.tophash(contents)
    path = f"/api/package/alice/big/{top_hash}"
    dry = registry.api("PUT", path, token=token, body=push_body(contents), compress=True)
    assert dry.status_code == 200, dry.get_json()
    for digest, urls in dry.get_json()["upload_urls"].items():
        assert registry.transfer("PUT", urls["put"], data=blobs[digest])[0] == 200
    body = push_body(contents, dry_run=False, sizes={d: len(b) for d, b in blobs.items()})
    return registry.api("PUT", path, token=token, body=body, compress=True)


def test_a_tree_beyond_what_the_database_can_store_is_a_413(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    # Random hex compresses to about half: ~10 MiB, sent to MariaDB as ~21 MB of hex, beyond its
    # 16 MiB max_allowed_packet (a 500 before the cap).
    response = push_with_metadata(registry, token, os.urandom(9 * MIB).hex())
    answer = response.get_json()
    assert (response.status_code, answer["code"], answer["status"]) == (413, "payload_too_large", 413)
    assert answer["message"].startswith("The package tree takes ")
    assert answer["message"].endswith(f" bytes compressed; at most {6 * MIB} are allowed")
    # Just under the cap (~5.7 MiB, sent as ~12 MB of hex) fits the database on both kinds.
    response = push_with_metadata(registry, token, os.urandom(5 * MIB).hex())
    assert response.status_code == 200, response.get_json()


def test_the_contents_cap_is_a_setting(settings):
    app = create_app(Settings(**{**settings.__dict__, "max_contents_bytes": 100}))
    registry = TestRegistry(app)
    try:
        registry.create_user("alice")
        response, _ = registry.push(registry.token("alice"), "alice", "demo", {"a.txt": b"a"})
        answer = response.get_json()
        assert (response.status_code, answer["code"]) == (413, "payload_too_large")
        assert answer["message"].endswith(" bytes compressed; at most 100 are allowed")
    finally:
        app.extensions["registry"].engine.dispose()

"""Uploads to the local store are capped by REGISTRY_MAX_FRAGMENT_BYTES (issue 9, item 12), with
or without Content-Length, and a refused upload leaves nothing behind."""

import io
import json
from urllib.parse import urlsplit

import pytest

from registry import Settings, create_app
from tests.helpers import TestRegistry, build_tree, sha256

LIMIT = 64
TOO_BIG = b"z" * (LIMIT + 1)
JUST_FITS = b"f" * LIMIT
TOO_LARGE = {"message": f"A fragment may be at most {LIMIT} bytes", "code": "payload_too_large", "status": 413}


@pytest.fixture
def capped(settings):
    capped_settings = Settings(**{**settings.__dict__, "max_fragment_bytes": LIMIT})
    app = create_app(capped_settings)
    yield TestRegistry(app), capped_settings
    app.extensions["registry"].engine.dispose()


def leftovers(settings):
    return sorted(p.name for p in settings.blob_dir.rglob("*") if p.is_file())


def put_chunked(registry, url, data):
    """A PUT without Content-Length, as gunicorn hands a chunked body to the app: a stream that
    ends where the body ends (`wsgi.input_terminated`)."""
    parts = urlsplit(url)
    return registry.client.put(f"{parts.path}?{parts.query}", input_stream=io.BytesIO(data),
                               headers={"Transfer-Encoding": "chunked"},
                               environ_overrides={"wsgi.input_terminated": True})


def test_an_upload_declaring_too_many_bytes_is_refused(capped):
    registry, settings = capped
    store = registry.state.store.bind("http://localhost")
    status, headers, body = registry.transfer("PUT", store.upload_urls("alice", sha256(TOO_BIG))["put"],
                                              data=TOO_BIG)
    assert (status, headers["Content-Type"]) == (413, "application/json")
    assert json.loads(body) == TOO_LARGE
    status, _, _ = registry.transfer("PUT", store.upload_urls("alice", sha256(JUST_FITS))["put"], data=JUST_FITS)
    assert status == 200
    assert leftovers(settings) == [sha256(JUST_FITS)]


def test_a_chunked_upload_is_counted_while_it_streams(capped):
    registry, settings = capped
    registry.create_user("alice")
    registry.create_user("bob")
    alice, bob = registry.token("alice"), registry.token("bob")
    assert registry.push(alice, "alice", "team", {"README": b"team"}, is_team=True)[0].status_code == 200
    store = registry.state.store.bind("http://localhost")
    # bob's uploads for alice's team package go to his staging key: the same cap.
    contents, _ = build_tree({"big": TOO_BIG})
    dry = registry.api("PUT", f"/api/package/alice/team/{registry.tophash(contents)}", token=bob,
                       body={"dry_run": True, "description": "", "contents": contents, "sizes": {}})
    staged = dry.get_json()["upload_urls"][sha256(TOO_BIG)]["put"]
    assert "/blobs/staging/alice/bob/" in staged
    for url in (store.upload_urls("alice", sha256(TOO_BIG))["put"], staged):
        response = put_chunked(registry, url, TOO_BIG)
        assert response.request.content_length is None
        assert (response.status_code, response.get_json()) == (413, TOO_LARGE)
    assert put_chunked(registry, store.upload_urls("alice", sha256(JUST_FITS))["put"], JUST_FITS).status_code == 200
    assert leftovers(settings) == sorted([sha256(JUST_FITS), sha256(b"team")])

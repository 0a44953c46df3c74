"""GET /api/limits reports the limits the running app enforces, to anyone."""

from __future__ import annotations

import json

from registry import Settings, create_app
from registry.schemas.packages import MAX_HASHES_PER_REQUEST, MAX_PUSH_FRAGMENTS
from registry.services.uploads import MAX_FRAGMENT_BYTES, MAX_OPEN_UPLOADS, MAX_PARTS
from tests.helpers import TestRegistry


def make_registry(settings: Settings, **overrides) -> TestRegistry:
    return TestRegistry(create_app(Settings(**{**settings.__dict__, **overrides})))


def test_defaults_are_the_settings(any_registry):
    settings = any_registry.state.settings
    response = any_registry.api("GET", "/api/limits")  # no token
    assert response.status_code == 200
    limits = response.get_json()
    assert limits["request_body"] == {
        "push_max_bytes": settings.max_request_bytes, "push_max_values": settings.max_request_values,
        "other_max_bytes": settings.max_small_request_bytes, "other_max_values": settings.max_small_request_values,
        "page_form_max_bytes": settings.max_page_request_bytes}
    assert limits["push"]["max_fragments"] == MAX_PUSH_FRAGMENTS
    assert limits["push"]["max_tree_bytes"] == settings.max_contents_bytes
    assert limits["get_objects_max_hashes"] == MAX_HASHES_PER_REQUEST
    uploads = limits["uploads"]
    assert uploads == {
        "max_fragment_bytes": MAX_FRAGMENT_BYTES,
        "max_put_bytes": settings.max_fragment_bytes if settings.storage == "local" else 5 * 1024 ** 3,
        "multipart_threshold_bytes": settings.multipart_threshold_bytes,
        "min_part_bytes": settings.upload_part_bytes, "max_parts": MAX_PARTS,
        "part_urls_per_request": settings.part_urls_per_request,
        "max_open_multipart_uploads": MAX_OPEN_UPLOADS, "url_expiry_seconds": settings.url_expiry_seconds}
    assert limits["rate_limits"] == {"actions": ["login", "token", "signup", "code"],
                                     "window_seconds": settings.throttle_window_seconds,
                                     "per_account": settings.throttle_account_limit,
                                     "per_address": settings.throttle_address_limit}


def test_changed_settings_are_reflected(settings):
    registry = make_registry(settings, max_small_request_bytes=4096, multipart_threshold_bytes=8 * 1024 ** 2,
                             upload_part_bytes=6 * 1024 ** 2, part_urls_per_request=7, url_expiry_seconds=120,
                             max_fragment_bytes=12345, throttle_account_limit=0, throttle_address_limit=3)
    limits = registry.api("GET", "/api/limits").get_json()
    assert limits["request_body"]["other_max_bytes"] == 4096
    assert limits["uploads"]["multipart_threshold_bytes"] == 8 * 1024 ** 2
    assert limits["uploads"]["min_part_bytes"] == 6 * 1024 ** 2
    assert limits["uploads"]["part_urls_per_request"] == 7
    assert limits["uploads"]["url_expiry_seconds"] == 120
    assert limits["uploads"]["max_put_bytes"] == 12345
    assert limits["rate_limits"]["per_account"] is None  # 0: no limit
    assert limits["rate_limits"]["per_address"] == 3

    # The reported body cap is the one enforced: one byte over it is refused before parsing.
    cap = limits["request_body"]["other_max_bytes"]
    user = registry.create_user("alice")
    token = registry.token(user.name)
    for size, refused in ((cap, False), (cap + 1, True)):
        body = json.dumps({"pad": "x" * (size - 11)}).encode()
        assert len(body) == size
        response = registry.api("POST", "/api/get_objects", token=token, data=body)
        assert (response.status_code == 413) is refused, response.get_json()


def test_anonymous_and_with_a_token(registry):
    anonymous = registry.api("GET", "/api/limits/")  # the trailing slash works too, as elsewhere
    assert anonymous.status_code == 200
    registry.create_user("bob")
    signed_in = registry.api("GET", "/api/limits", token=registry.token("bob"))
    assert signed_in.status_code == 200
    assert signed_in.get_json() == anonymous.get_json()
    # A bad token is refused in the one error shape, as on every /api route.
    refused = registry.api("GET", "/api/limits", token="nope")
    assert refused.status_code == 401
    assert set(refused.get_json()) >= {"message", "code", "status"}

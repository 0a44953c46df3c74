"""One error shape, written in one place (registry.api.errors.error_payload): Flask's answers,
werkzeug's own, and the body layer's before Flask runs give the same payload and code."""

import gzip

from werkzeug.exceptions import RequestEntityTooLarge

from registry.api.errors import error_payload
from registry.errors import PayloadTooLarge


def test_the_body_layers_413_is_the_payload_of_payload_too_large(registry):
    limit = registry.state.settings.max_small_request_bytes
    expected = error_payload(413, f"Request body larger than {limit} bytes", PayloadTooLarge.code)
    assert expected["code"] == "payload_too_large"
    # Refused before Flask runs (the declared length), and while Flask reads it (gzip inflating past the cap).
    declared = registry.client.post("/api/get_objects", data=b"[]", content_type="application/json",
                                    environ_overrides={"CONTENT_LENGTH": str(limit + 1)})
    inflated = registry.client.post("/api/get_objects", data=gzip.compress(b"[" + b"0," * limit + b"0]"),
                                    headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    for response in (declared, inflated):
        assert (response.status_code, response.get_json()) == (413, expected)


def test_werkzeugs_own_413_has_the_same_code(registry):
    @registry.app.get("/api/test-werkzeug-413")
    def too_large():
        raise RequestEntityTooLarge()

    response = registry.client.get("/api/test-werkzeug-413")
    assert response.status_code == 413
    assert response.get_json() == error_payload(413, RequestEntityTooLarge.description, PayloadTooLarge.code)

"""/metrics in Prometheus format and one JSON log line per request."""

import json
import logging

import pytest

from registry.request_log import log as request_log


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def log_lines():
    from registry.request_log import JsonLines

    handler = Lines()
    handler.setFormatter(JsonLines())
    request_log.addHandler(handler)
    yield handler.lines
    request_log.removeHandler(handler)


def metric(text: str, name: str, **labels) -> float:
    """The sample's value; a series not exported yet counts as 0."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_requests_pushes_installs_and_errors(registry):
    before = registry.client.get("/metrics").get_data(as_text=True)
    registry.create_user("alice")
    token = registry.token("alice")
    _, top_hash = registry.push(token, "alice", "demo", {"a": b"a"})
    registry.api("GET", f"/api/package/alice/demo/{top_hash}", token=token)
    registry.api("GET", "/api/profile")  # anonymous: one `unauthorized` error
    response = registry.client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    after = response.get_data(as_text=True)

    def grew(name, **labels):
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert grew("registry_http_requests_total", endpoint="packages.push_package", method="PUT", status="200") == 2
    assert grew("registry_package_events_total", type="PUSH") == 1
    assert grew("registry_package_events_total", type="INSTALL") == 1
    assert grew("registry_errors_total", code="unauthorized") == 1
    assert grew("registry_http_request_duration_seconds_count", endpoint="packages.install", method="GET") == 1


def test_one_json_line_per_request(registry, log_lines):
    registry.create_user("alice")
    token = registry.token("alice")
    registry.client.get("/api/package/alice/", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"})
    registry.client.get("/healthcheck", headers={"X-Request-ID": "bad id with spaces"})
    first, second = log_lines
    assert {k: first[k] for k in ("request_id", "method", "path", "endpoint", "status", "user")} == {
        "request_id": "req-42", "method": "GET", "path": "/api/package/alice/", "endpoint": "packages.owner_packages",
        "status": 200, "user": "alice"}
    assert first["duration_ms"] >= 0 and first["level"] == "info"
    assert len(second["request_id"]) == 32 and second["user"] is None
    echoed = registry.client.get("/healthcheck", headers={"X-Request-ID": "abc"})
    assert echoed.headers["X-Request-ID"] == "abc"

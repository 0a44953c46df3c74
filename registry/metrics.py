"""Prometheus metrics. Under gunicorn every worker writes to PROMETHEUS_MULTIPROC_DIR (set by
`registry serve` before any worker starts) and /metrics adds them up."""

from __future__ import annotations

import hmac
import ipaddress
import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess

from .errors import Forbidden, Unauthorized

REQUESTS = Counter("registry_http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("registry_http_request_duration_seconds", "Time to answer a request", ["endpoint", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
ERRORS = Counter("registry_errors_total", "Error responses by kind", ["code"])
PACKAGE_EVENTS = Counter("registry_package_events_total", "Pushes, installs, previews and deletions", ["type"])
EVENTS_DROPPED = Counter("registry_events_dropped_total",
                         "Buffered install and preview events lost: the database did not take them in time")

# (endpoint, method, status) -> the two children it counts on: labels() costs a lock and a few
# conversions each time, for the same few children request after request.
_request_children: dict[tuple[str, str, int], tuple] = {}


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    key = (endpoint, method, status)
    children = _request_children.get(key)
    if children is None:
        children = _request_children.setdefault(
            key, (REQUESTS.labels(endpoint, method, str(status)), LATENCY.labels(endpoint, method)))
    children[0].inc()
    children[1].observe(seconds)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def check_scraper(token: str, remote_addr: str | None, authorization: str | None) -> None:
    """Who may read /metrics (endpoint names, error and event counts): with REGISTRY_METRICS_TOKEN
    set, whoever sends it as a bearer token (Prometheus: `authorization: {credentials: ...}` in the
    scrape config), from anywhere; without it, only clients on the loopback interface."""
    if token:
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            raise Unauthorized("Metrics need the bearer token set in REGISTRY_METRICS_TOKEN.",
                               headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack socket
    loopback = address is not None and address.is_loopback
    if not loopback:
        raise Forbidden("Metrics are served to loopback clients only; set REGISTRY_METRICS_TOKEN to scrape "
                        "them from elsewhere.")

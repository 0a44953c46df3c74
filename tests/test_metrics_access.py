"""/metrics is not public: loopback only by default, anyone with REGISTRY_METRICS_TOKEN otherwise."""

from __future__ import annotations

import secrets

from registry import Settings, create_app


def scrape(app, address: str, authorization: str | None = None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client.get("/metrics", headers={"Authorization": authorization} if authorization else {})


def test_without_a_token_only_loopback_may_scrape(registry):
    for address in ("127.0.0.1", "::1", "127.8.9.10"):
        response = scrape(registry.app, address)
        assert response.status_code == 200 and "registry_http_requests_total" in response.get_data(as_text=True)
    for address in ("10.1.2.3", "203.0.113.4", "2001:db8::1"):
        refused = scrape(registry.app, address)
        assert refused.status_code == 403
        assert "set REGISTRY_METRICS_TOKEN" in refused.get_data(as_text=True)
        assert "registry_http_requests_total" not in refused.get_data(as_text=True)


def test_with_a_token_anyone_holding_it_may_scrape(settings):
    token = secrets.token_urlsafe(24)
    app = create_app(Settings(**{**settings.__dict__, "metrics_token": token}))
    try:
        for address in ("203.0.113.4", "127.0.0.1"):
            assert scrape(app, address, f"Bearer {token}").status_code == 200
            for wrong in (None, "Bearer nope", f"Basic {token}", token):
                refused = scrape(app, address, wrong)
                assert refused.status_code == 401, wrong
                assert refused.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    finally:
        app.extensions["registry"].engine.dispose()

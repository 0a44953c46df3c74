"""`/api/admin/*` and `/api/audit/*` (protocol.md 9.13, 14.15): admins only; the authorisation
order is covered in test_admin.py."""

import datetime as dt
import json

import pytest
from sqlalchemy import select

from registry.db import epoch
from registry.models import Event
from tests.api.test_admin import LIMIT_RANGE, call

T0 = dt.datetime(2024, 1, 1, 12, 0, 0)


@pytest.fixture
def admin(registry):
    registry.create_user("root", admin=True)
    registry.create_user("alice")
    return registry.token("root")


def add_events(registry, *events) -> None:
    """(seconds after T0, user, type, owner, name, hash, extra)"""
    with registry.state.session_factory() as session:
        session.add_all(Event(created_at=T0 + dt.timedelta(seconds=s), user=u, type=t, package_owner=o,
                              package_name=n, package_hash=h, extra=None if x is None else json.dumps(x))
                        for s, u, t, o, n, h, x in events)
        session.commit()


def row(seconds, user, kind, owner, name, package_hash=None, extra=None) -> dict:
    return {"created": epoch(T0) + seconds, "user": user, "type": kind, "package_owner": owner,
            "package_name": name, "package_hash": package_hash, "extra": extra}


def test_package_list_shows_every_package_of_the_owner_in_both_url_forms(registry, admin):
    token = registry.token("alice")
    for name, flags in [("zeta", {}), ("beta", {"is_team": True}), ("Alpha", {"is_public": True})]:
        assert registry.push(token, "alice", name, {"f": name.encode()}, **flags)[0].status_code == 200
    expected = {"packages": [{"name": "Alpha", "is_public": True, "is_team": False},
                             {"name": "beta", "is_public": False, "is_team": True},
                             {"name": "zeta", "is_public": False, "is_team": False}]}
    assert call(registry, "GET", "/api/admin/package_list/alice", admin) == (200, expected)
    assert call(registry, "GET", "/api/admin/package_list/alice/", admin) == (200, expected)
    assert call(registry, "GET", "/api/admin/package_list/nobody", admin) == (200, {"packages": []})


def test_package_summary_counts_events_of_existing_packages(registry, admin):
    token = registry.token("alice")
    assert registry.push(token, "alice", "demo", {"f": b"1"})[0].status_code == 200
    response, top_hash = registry.push(token, "alice", "other", {"f": b"2"})
    assert registry.api("GET", f"/api/package/alice/other/{top_hash}", token=token).status_code == 200
    add_events(registry, (5, None, "INSTALL", "alice", "demo", None, None),
               (9, "root", "INSTALL", "alice", "demo", None, None),
               (3, "alice", "PREVIEW", "alice", "demo", None, None),
               (4, "alice", "PUSH", "alice", "gone", None, None))  # a deleted package: left out
    with registry.state.session_factory() as session:
        events = session.scalars(select(Event).order_by(Event.id))
        latest = {(e.package_name, e.type): epoch(e.created_at) for e in events}
    none = {"count": 0}
    assert call(registry, "GET", "/api/admin/package_summary", admin) == (200, {"packages": {
        "alice/demo": {"installs": {"count": 2, "latest": epoch(T0) + 9},
                       "previews": {"count": 1, "latest": epoch(T0) + 3},
                       "pushes": {"count": 1, "latest": latest["demo", "PUSH"]}, "deletes": none},
        "alice/other": {"installs": {"count": 1, "latest": latest["other", "INSTALL"]}, "previews": none,
                        "pushes": {"count": 1, "latest": latest["other", "PUSH"]}, "deletes": none}}})


EVENTS = [(30, "bob", "INSTALL", "alice", "demo", "a" * 64, {"subpath": "x/y"}),
          (10, "alice", "PUSH", "alice", "demo", "a" * 64, {"public": False}),
          (20, None, "PREVIEW", "alice", "demo", "a" * 64, None),
          (40, "alice", "DELETE", "alice", "demo", None, None),
          (15, "alice", "PUSH", "alice", "other", "b" * 64, {"public": True})]


def test_package_audit_oldest_first(registry, admin):
    add_events(registry, *EVENTS)
    assert call(registry, "GET", "/api/audit/alice/demo/", admin) == (200, {"events": [
        row(10, "alice", "PUSH", "alice", "demo", "a" * 64, {"public": False}),
        row(20, None, "PREVIEW", "alice", "demo", "a" * 64),
        row(30, "bob", "INSTALL", "alice", "demo", "a" * 64, {"subpath": "x/y"}),
        row(40, "alice", "DELETE", "alice", "demo")]})
    # The slash-less form and an unknown package.
    assert len(call(registry, "GET", "/api/audit/alice/demo", admin)[1]["events"]) == 4
    assert call(registry, "GET", "/api/audit/alice/nothing/", admin) == (200, {"events": []})


def test_user_audit_and_filters(registry, admin):
    add_events(registry, *EVENTS)
    since = epoch(T0) + 15

    def events(query: str) -> list[tuple[int, str]]:
        status, body = call(registry, "GET", f"/api/audit/alice/{query}", admin)
        assert status == 200
        return [(e["created"] - epoch(T0), e["package_name"]) for e in body["events"]]

    assert events("") == [(10, "demo"), (15, "other"), (40, "demo")]
    assert events(f"?since={since}") == [(15, "other"), (40, "demo")]
    assert events(f"?until={since}") == [(10, "demo")]
    assert events("?type=PUSH") == [(10, "demo"), (15, "other")]
    assert events("?limit=2") == [(15, "other"), (40, "demo")]  # the newest two, oldest first
    assert events(f"?limit=1&type=PUSH&until={since}") == [(10, "demo")]
    assert events("?type=INSTALL") == []
    assert call(registry, "GET", "/api/audit/bob/", admin) == (200, {"events": [
        row(30, "bob", "INSTALL", "alice", "demo", "a" * 64, {"subpath": "x/y"})]})


@pytest.mark.parametrize("query,errors", [
    ("limit=0", {"limit": [LIMIT_RANGE]}),
    ("limit=10001", {"limit": [LIMIT_RANGE]}),
    ("limit=many", {"limit": ["Not a valid integer."]}),
    ("since=yesterday", {"since": ["Not a valid number."]}),
    ("since=nan", {"since": ["Special numeric values (nan or infinity) are not permitted."]}),
    ("until=1e300", {"until": ["Must be greater than or equal to 0 and less than or equal to 253402300799."]}),
    ("type=push", {"type": ["Must be one of: PUSH, INSTALL, PREVIEW, DELETE, LOGIN_FAILED, TOKEN_REUSED."]}),
    ("order=asc", {"order": ["Unknown field."]}),
])
def test_audit_query_errors(registry, admin, query, errors):
    message = "Invalid request: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
    expected = {"message": message, "code": "bad_request", "status": 400, "errors": errors}
    assert call(registry, "GET", f"/api/audit/alice/?{query}", admin) == (400, expected)
    assert call(registry, "GET", f"/api/audit/alice/demo/?{query}", admin) == (400, expected)
    # Only admins get as far as validation.
    assert call(registry, "GET", f"/api/audit/alice/?{query}", registry.token("alice"))[0] == 403
    assert call(registry, "GET", f"/api/audit/alice/?{query}")[0] == 401

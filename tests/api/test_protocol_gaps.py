"""Gaps found by checking every endpoint against protocol.md: package_timeseries (9.11.5), what
a push body must be (JSON, real booleans), a stranger's bad push to a private package, search
cursors past any database's integer range, and /blobs signatures that are not ASCII."""

import base64
import datetime as dt
import gzip
import json
from urllib.parse import urlsplit

import pytest

from registry.db import epoch, utcnow
from registry.models import Event
from tests.helpers import build_tree, query_plans, recorded_statements
from tests.web.pages import get

WEEK = dt.timedelta(weeks=1)


def coming_monday() -> dt.datetime:
    now = utcnow()
    return dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday()), dt.time()) + WEEK


def add_events(registry, owner, name, kind, *times):
    with registry.state.session_factory() as session:
        session.add_all(Event(type=kind, package_owner=owner, package_name=name, created_at=when) for when in times)
        session.commit()


def timeseries(registry, path, token=None):
    response = registry.api("GET", f"/api/package_timeseries/{path}", token=token)
    return response.status_code, response.get_json()


@pytest.fixture
def alice_packages(registry):
    registry.create_user("alice")
    registry.create_user("bob")
    alice = registry.token("alice")
    assert registry.push(alice, "alice", "public", {"a": b"1"}, is_public=True)[0].status_code == 200
    assert registry.push(alice, "alice", "secret", {"a": b"2"})[0].status_code == 200
    return registry


# package_timeseries


def test_timeseries_counts_events_per_week_for_52_weeks(alice_packages):
    registry = alice_packages
    end = coming_monday()
    add_events(registry, "alice", "public", "INSTALL",
               end - dt.timedelta(hours=1), end - 7 * dt.timedelta(days=1) + dt.timedelta(minutes=1),  # this week
               end - WEEK - dt.timedelta(seconds=1),  # last week
               end - 10 * WEEK + dt.timedelta(minutes=5),  # ten weeks back (bucket 42)
               end - 52 * WEEK,  # first moment of the oldest week
               end - 52 * WEEK - dt.timedelta(seconds=1), end - 60 * WEEK)  # older: only in the total
    add_events(registry, "alice", "census", "INSTALL", end - dt.timedelta(hours=1))  # another package
    expected = [0] * 52
    expected[51], expected[50], expected[42], expected[0] = 2, 1, 1, 1
    status, body = timeseries(registry, "alice/public/install")
    assert (status, body) == (200, {"startDate": int(epoch(end - 52 * WEEK)), "endDate": int(epoch(end)),
                                    "frequency": "week", "timeSeries": expected, "total": 7})
    assert end.weekday() == 0 and body["endDate"] - body["startDate"] == 52 * 7 * 86400


def test_timeseries_reads_the_index_of_its_kind_and_time_only(alice_packages):
    """Every install adds an event, so a popular package has millions. Each week is a range of
    the index (package_owner, package_name, type, created_at) and the total a count of it: no
    table rows, and no other kind's or package's events (migration 0014)."""
    registry = alice_packages
    end = coming_monday()
    for kind, name in [("INSTALL", "public"), ("PREVIEW", "public"), ("INSTALL", "other")]:
        add_events(registry, "alice", name, kind, *(end - dt.timedelta(hours=7 * n + 1) for n in range(700)))
    engine = registry.state.engine
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE TABLE event")
    with recorded_statements(engine) as recorded:
        status, body = timeseries(registry, "alice/public/install")
    assert status == 200 and body["total"] == 700 and sum(body["timeSeries"]) == 700
    seen = [(statement, parameters) for statement, parameters in recorded if "FROM event" in statement]
    assert len(seen) == 2
    for plan in query_plans(engine, seen):
        if engine.dialect.name == "sqlite":
            steps = [step for step in plan if "event" in step]
            assert steps and all("COVERING INDEX ix_event_package_type_created_at" in step for step in steps), plan
        else:
            rows = [row for row in plan if row["table"] == "event"]
            assert rows and all((row["key"], "Using index" in (row["Extra"] or "")) ==
                                ("ix_event_package_type_created_at", True) for row in rows), plan


def test_timeseries_event_type_is_case_insensitive_and_counts_only_that_type(alice_packages):
    status, body = timeseries(alice_packages, "alice/public/PUSH")
    assert (status, body["total"], body["timeSeries"][-1], sum(body["timeSeries"])) == (200, 1, 1, 1)
    status, body = timeseries(alice_packages, "alice/public/Preview")
    assert (status, body["total"], body["timeSeries"]) == (200, 0, [0] * 52)


def test_timeseries_refuses_unknown_event_types(alice_packages):
    assert timeseries(alice_packages, "alice/public/download") == (
        400, {"message": "Event type incorrectly specified.", "code": "bad_request", "status": 400})


def test_timeseries_of_a_package_the_caller_cannot_see_is_a_404(alice_packages):
    registry = alice_packages
    bob = registry.token("bob")
    hidden = timeseries(registry, "alice/secret/push", token=bob)
    missing = timeseries(registry, "alice/nothing/push", token=bob)
    assert hidden == (404, {"message": "Package alice/secret does not exist", "code": "not_found", "status": 404})
    assert missing == (404, {"message": "Package alice/nothing does not exist", "code": "not_found", "status": 404})
    assert timeseries(registry, "alice/secret/push")[0] == 404
    status, body = timeseries(registry, "alice/secret/push", token=registry.token("alice"))
    assert (status, body["total"]) == (200, 1)


# What a push body must be


def push_body(contents, **overrides):
    return {"dry_run": True, "is_public": False, "is_team": False, "description": "", "contents": contents,
            "sizes": {}, **overrides}


def raw_push(registry, token, path, body, content_type="application/json"):
    headers = {"Content-Type": content_type, "Content-Encoding": "gzip", "Authorization": f"Bearer {token}"}
    method = "POST" if path.startswith("/api/package_update/") else "PUT"
    response = registry.client.open(path, method=method, data=gzip.compress(json.dumps(body).encode()),
                                    headers=headers)
    return response.status_code, response.get_json()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/octet-stream"])
def test_a_push_body_that_is_not_declared_json_is_refused(registry, content_type):
    registry.create_user("alice")
    contents, _ = build_tree({"a": b"1"})
    path = f"/api/package/alice/demo/{registry.tophash(contents)}"
    assert raw_push(registry, registry.token("alice"), path, push_body(contents), content_type) == (
        415, {"message": "A push body must be JSON (Content-Type: application/json)",
              "code": "unsupported_media_type", "status": 415})


def test_a_push_declared_json_with_a_charset_is_accepted(registry):
    registry.create_user("alice")
    contents, _ = build_tree({"a": b"1"})
    path = f"/api/package/alice/demo/{registry.tophash(contents)}"
    status, body = raw_push(registry, registry.token("alice"), path, push_body(contents),
                            "application/json; charset=utf-8")
    assert status == 200 and set(body) == {"upload_urls"}


NOT_BOOLEANS = ["yes", "true", 1, 0, "false", "", [], {}]


@pytest.mark.parametrize("field,value", [(field, value) for field in ("dry_run", "is_public", "is_team", "public")
                                         for value in NOT_BOOLEANS] + [("dry_run", None)])
def test_push_flags_must_be_json_booleans(registry, field, value):
    registry.create_user("alice")
    contents, _ = build_tree({"a": b"1"})
    path = f"/api/package/alice/demo/{registry.tophash(contents)}"
    status, body = raw_push(registry, registry.token("alice"), path, push_body(contents, **{field: value}))
    assert (status, body["code"], body["status"]) == (400, "bad_request", 400), body
    assert field in body["message"]


def test_sharing_flags_may_be_null(registry):
    registry.create_user("alice")
    contents, _ = build_tree({"a": b"1"})
    path = f"/api/package/alice/demo/{registry.tophash(contents)}"
    status, _ = raw_push(registry, registry.token("alice"), path, push_body(contents, is_public=None, public=None))
    assert status == 200


# A stranger's invalid push to a private package


@pytest.mark.parametrize("route", ["/api/package/alice/{name}/" + "0" * 64, "/api/package_update/alice/{name}/sub"])
def test_a_strangers_invalid_push_to_a_private_package_is_the_same_404_as_for_a_missing_one(alice_packages, route):
    registry = alice_packages
    bob = registry.token("bob")
    for name in ("secret", "nothing"):
        for body, content_type in (({"bogus": True}, "application/json"), (push_body({}), "text/plain")):
            assert raw_push(registry, bob, route.format(name=name), body, content_type) == (
                404, {"message": f"Package alice/{name} does not exist", "code": "not_found", "status": 404})


def test_invalid_pushes_by_those_who_may_see_the_package_still_say_what_is_wrong(alice_packages):
    registry = alice_packages
    path = "/api/package/alice/{name}/" + "0" * 64
    status, body = raw_push(registry, registry.token("bob"), path.format(name="public"), {"bogus": True})
    assert (status, body["code"]) == (400, "bad_request")
    status, body = raw_push(registry, registry.token("alice"), path.format(name="secret"), {"bogus": True})
    assert (status, body["code"]) == (400, "bad_request")
    status, body = raw_push(registry, registry.token("alice"), path.format(name="fresh"), {"bogus": True})
    assert (status, body["code"]) == (400, "bad_request")


def test_anonymous_pushes_are_refused_before_anything_else(alice_packages):
    response = alice_packages.client.put("/api/package/alice/secret/" + "0" * 64, data=b"not json",
                                         headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.get_json()) == (
        401, {"message": "Not logged in", "code": "unauthorized", "status": 401})


# Search cursors


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("value", ["offset:99999999999999999999", "offset:9223372036854775808",
                                   "offset:1000000001", "offset:-1", "offset:1e3", "page:3"])
def test_search_cursors_out_of_range_are_a_400(alice_packages, value):
    registry = alice_packages
    response = registry.api("GET", "/api/search/", query_string={"q": "", "cursor": cursor(value)})
    assert (response.status_code, response.get_json()) == (
        400, {"message": "Invalid cursor", "code": "bad_request", "status": 400})
    status, page = get(registry.client, f"/search?q=a&cursor={cursor(value)}")
    assert status == 400 and "Invalid cursor" in page


def test_search_cursor_far_past_the_results_is_an_empty_page(alice_packages):
    response = alice_packages.api("GET", "/api/search/", query_string={"q": "", "cursor": cursor("offset:1000000000")})
    assert (response.status_code, response.get_json()) == (200, {"packages": [], "next_cursor": None})


def test_an_overlong_cursor_is_a_400(alice_packages):
    response = alice_packages.api("GET", "/api/search/", query_string={"cursor": cursor("offset:" + "0" * 100 + "1")})
    assert (response.status_code, response.get_json()["message"]) == (400, "Invalid cursor")


# /blobs signatures


@pytest.mark.parametrize("signature", ["%C3%A9", "%E2%9C%93" * 20, "%00", "%FF"])
def test_a_non_ascii_blob_signature_is_refused_like_any_bad_one(registry, signature):
    registry.create_user("alice")
    contents, _ = build_tree({"a": b"1"})
    dry = registry.api("PUT", f"/api/package/alice/demo/{registry.tophash(contents)}", token=registry.token("alice"),
                       body=push_body(contents), compress=True)
    url = urlsplit(next(iter(dry.get_json()["upload_urls"].values()))["head"])
    query = "&".join(part for part in url.query.split("&") if not part.startswith("s=")) + f"&s={signature}"
    response = registry.client.head(f"{url.path}?{query}")
    assert response.status_code == 403
    forged_get = registry.client.get(f"{url.path}?{query.replace('m=HEAD', 'm=GET')}")
    assert (forged_get.status_code, forged_get.get_json()) == (
        403, {"message": "The URL signature is invalid or has expired", "code": "forbidden", "status": 403})
    assert registry.client.head(f"{url.path}?{url.query}").status_code == 404  # the real URL still works

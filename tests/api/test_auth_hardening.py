"""Tokens only in the body, refresh-token reuse detection, and what the token endpoint leaves
behind (issue 9, items 7 and 12)."""

from __future__ import annotations

import json

from sqlalchemy import select

from registry.models import Event, RefreshToken


def exchange(registry, secret: str):
    return registry.client.post("/api/token", data={"refresh_token": secret})


def test_a_token_in_the_query_string_is_refused(registry):
    registry.create_user("alice")
    code = registry.login_code("alice")
    refused = registry.client.post(f"/api/token?refresh_token={code}")
    assert (refused.status_code, refused.get_json()) == (400, {
        "message": "Send refresh_token in the request body, never in the URL (URLs are logged).",
        "code": "bad_request", "status": 400})
    both = registry.client.post(f"/api/token?refresh_token={code}", data={"refresh_token": code})
    assert both.status_code == 400
    # Refused before it was looked at: the code still works from the body.
    assert exchange(registry, code).status_code == 200


def test_replaying_a_rotated_refresh_token_revokes_its_whole_family(registry):
    registry.create_user("alice")
    registry.create_user("root", admin=True)
    first = exchange(registry, registry.login_code("alice")).get_json()
    second = exchange(registry, first["refresh_token"]).get_json()
    third = exchange(registry, second["refresh_token"]).get_json()
    other = exchange(registry, registry.login_code("alice")).get_json()  # another machine: its own family
    assert registry.api("GET", "/api/package/alice/", token=third["access_token"]).status_code == 200

    replay = exchange(registry, first["refresh_token"])
    assert (replay.status_code, replay.get_json()["message"]) == (401, "Token invalid.")
    # The thief's (or the owner's) successors are all gone, committed although the answer was a 401.
    assert registry.api("GET", "/api/package/alice/", token=third["access_token"]).status_code == 401
    assert exchange(registry, third["refresh_token"]).status_code == 401
    assert exchange(registry, second["refresh_token"]).status_code == 401
    # The other family is untouched.
    assert registry.api("GET", "/api/package/alice/", token=other["access_token"]).status_code == 200
    assert exchange(registry, other["refresh_token"]).status_code == 200
    with registry.state.session_factory() as session:
        families = session.execute(select(RefreshToken.family, RefreshToken.revoked_at.is_(None))).all()
        assert len({family for family, _ in families}) == 2
        events = session.execute(select(Event.user, Event.type, Event.extra).where(Event.type == "TOKEN_REUSED")).all()
    # One event for the first replay (which revoked `third`), one for each later replay (nothing left to revoke).
    assert [(user, kind, json.loads(extra)) for user, kind, extra in events] == [
        ("alice", "TOKEN_REUSED", {"revoked": 1}), ("alice", "TOKEN_REUSED", {"revoked": 0}),
        ("alice", "TOKEN_REUSED", {"revoked": 0})]
    audit = registry.api("GET", "/api/audit/alice/?type=TOKEN_REUSED", token=registry.token("root")).get_json()
    assert [e["extra"] for e in audit["events"]] == [{"revoked": 1}, {"revoked": 0}, {"revoked": 0}]


def test_an_expired_code_is_refused_and_left_for_the_purge(registry):
    import datetime as dt

    from sqlalchemy import update

    from registry.models import LoginCode

    registry.create_user("alice")
    code = registry.login_code("alice")
    with registry.state.session_factory() as session:
        session.execute(update(LoginCode).values(expires_at=dt.datetime(2000, 1, 1)))
        session.commit()
    expired = exchange(registry, code)
    assert (expired.status_code, expired.get_json()["message"]) == (401, "Code invalid")
    # The next code issued to alice sweeps her expired ones.
    registry.login_code("alice")
    with registry.state.session_factory() as session:
        assert session.scalar(select(LoginCode.expires_at).order_by(LoginCode.id)) > dt.datetime(2001, 1, 1)
        assert len(session.scalars(select(LoginCode.id)).all()) == 1

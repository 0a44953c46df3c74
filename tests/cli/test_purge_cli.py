"""`registry tokens purge`: expired codes, dead refresh tokens, expired sessions and counters go;
revoked tokens of a live family stay (presenting one revokes the family)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, insert, select, update

from registry.db import make_engine, make_session_factory, utcnow
from registry.models import LoginCode, RefreshToken, ThrottleCounter, WebSession
from registry.services import users, web_sessions
from registry.services.tokens import TokenService

PAST = dt.datetime(2001, 1, 1)


def test_purge_deletes_only_what_can_never_be_used(run, settings):
    engine = make_engine(settings.effective_database_url)
    tokens = TokenService(settings, settings.secret_key)
    with make_session_factory(engine)() as session:
        alice = users.create_user(session, "alice")
        live_code = tokens.issue_code(session, alice)
        tokens.issue_code(session, alice)
        session.execute(update(LoginCode).where(LoginCode.id == session.scalar(select(func.max(LoginCode.id))))
                        .values(expires_at=PAST))
        rotated = tokens.issue_tokens(session, alice)  # revoked below, but its family lives on
        successor = tokens.exchange(session, rotated.refresh_token, engine=engine)
        logged_out = tokens.issue_tokens(session, alice)  # revoked: a dead family of one
        expired = tokens.issue_tokens(session, alice)
        session.execute(update(RefreshToken).where(RefreshToken.token_hash == _digest(logged_out.refresh_token))
                        .values(revoked_at=utcnow()))
        session.execute(update(RefreshToken).where(RefreshToken.token_hash == _digest(expired.refresh_token))
                        .values(expires_at=PAST))
        bob = users.create_user(session, "bob")
        web_sessions.start_web_session(session, bob, "old browser")  # bob never comes back to clear it
        session.execute(update(WebSession).values(expires_at=PAST))
        web_sessions.start_web_session(session, alice, "new browser")
        now = utcnow()
        session.execute(insert(ThrottleCounter), [
            {"key": "a" * 64, "hits": 3, "started_at": PAST, "expires_at": PAST},
            {"key": "b" * 64, "hits": 3, "started_at": now, "expires_at": now + dt.timedelta(minutes=15)}])
        session.commit()

    result = run("tokens", "purge", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"login_codes": 1, "refresh_tokens": 2, "web_sessions": 1,
                                         "throttle_counters": 1}
    with make_session_factory(engine)() as session:
        assert session.scalars(select(LoginCode.code_hash)).all() == [_digest(live_code)]
        kept = set(session.scalars(select(RefreshToken.token_hash)))
        assert kept == {_digest(rotated.refresh_token), _digest(successor.refresh_token)}
        assert session.scalars(select(WebSession.user_agent)).all() == ["new browser"]
        assert session.scalars(select(ThrottleCounter.key)).all() == ["b" * 64]
    engine.dispose()
    again = run("tokens", "purge")
    assert again.output == ("Deleted 0 login codes, 0 refresh tokens, 0 web sessions, 0 throttle counters.\n")


def _digest(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()

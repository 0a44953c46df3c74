"""The person looking at a page, as the services see callers: a Context whose Actor is the
signed-in user (loaded from the database), or anonymous."""

from __future__ import annotations

from flask_login import current_user

from ..api.context import base_url, db_session
from ..models import User
from ..services.context import ANONYMOUS, Actor, Context
from ..state import state


def viewer_context() -> Context:
    user = db_session().get(User, current_user.user_id) if current_user.is_authenticated else None
    registry = state()
    return Context(session=db_session(), settings=registry.settings, store=registry.store.bind(base_url()),
                   actor=Actor(user) if user is not None else ANONYMOUS, base_url=base_url())

"""The person looking at a page, as the services see callers: a Context whose Actor is the
signed-in user (loaded from the database), or anonymous."""

from __future__ import annotations

from flask_login import current_user

from ..request_scope import context_for, db_session
from ..services import users
from ..services.context import ANONYMOUS, Actor, Context


def viewer_context() -> Context:
    user = users.get_by_id(db_session(), current_user.user_id) if current_user.is_authenticated else None
    return context_for(Actor(user) if user is not None else ANONYMOUS)

"""What every command needs: settings, an engine, a service context; failures as clean messages."""

from __future__ import annotations

import contextlib
from typing import Iterator

import click
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ..config import Settings
from ..db import make_engine, make_session_factory
from ..errors import RegistryError


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def open_engine(settings: Settings) -> Engine:
    if settings.is_embedded_database:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.effective_database_url)


@contextlib.contextmanager
def session_scope(settings: Settings) -> Iterator[Session]:
    """One transaction, committed on success; a RegistryError becomes a one-line error, exit 1."""
    engine = open_engine(settings)
    session = make_session_factory(engine)()
    try:
        yield session
        session.commit()
    except RegistryError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from None
    finally:
        session.close()
        engine.dispose()

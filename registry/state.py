"""Everything create_app builds once per process and every request shares."""

from __future__ import annotations

import dataclasses

from flask import current_app
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from .config import Settings
from .services.tokens import TokenService
from .storage import BlobStore


@dataclasses.dataclass
class RegistryState:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker
    store: BlobStore
    tokens: TokenService


def state() -> RegistryState:
    return current_app.extensions["registry"]

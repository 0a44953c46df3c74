"""The client context: settings, the local object store, registry sessions and transfers.

Every public function takes an optional `client`; without one it uses `default_client()`, built
from the environment. Tests and programs with several identities pass their own.
"""

from __future__ import annotations

import threading
from typing import Callable

import requests

from .errors import UsageError
from .progress import wanted
from .session import RegistrySession
from .settings import Settings, normalize_registry
from .store import ObjectStore
from .transfer import TransferOptions, Transfers


class Client:
    def __init__(self, settings: Settings | None = None, *, progress: str | None = None,
                 workers: int | None = None,
                 on_blob_request: Callable[[requests.PreparedRequest], None] | None = None):
        """`progress`: "auto" | "always" | "never" (default: the `progress` setting).
        `on_blob_request` sees every request sent to blob storage, as sent."""
        self.settings = settings or Settings.from_env()
        self.store = ObjectStore(self.settings.data_dir)
        self.progress = progress
        self.workers = workers
        self.on_blob_request = on_blob_request
        self._sessions: dict[str, RegistrySession] = {}

    def config(self) -> dict:
        return self.settings.config()

    def registry_url(self, registry: str | None) -> str:
        url = registry or self.config()["default_remote_registry"]
        if not url:
            raise UsageError("No registry given.",
                             "Pass registry=URL (--registry URL), or set a default once: "
                             "registry-client config default_remote_registry URL")
        return normalize_registry(url)

    def session(self, registry: str | None) -> RegistrySession:
        url = self.registry_url(registry)
        if url not in self._sessions:
            self._sessions[url] = RegistrySession(url, self.settings, retries=self.config()["retries"])
        return self._sessions[url]

    def transfers(self) -> Transfers:
        config = self.config()
        return Transfers(TransferOptions(
            workers=self.workers or config["transfer_workers"], retries=config["retries"],
            progress=wanted(self.progress or config["progress"]), on_request=self.on_blob_request,
            ranged_above=2 * config["range_mib"] * 1024 ** 2, range_bytes=config["range_mib"] * 1024 ** 2))


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def resolve(client: Client | None) -> Client:
    return client or default_client()

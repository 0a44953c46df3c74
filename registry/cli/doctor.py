"""`registry doctor`: one line per check of the configuration, and exit 1 when any fails."""

from __future__ import annotations

import hashlib
import io
import uuid

import click
import requests
from sqlalchemy import text

from .. import migrate
from ..runtime import Runtime
from ..storage import LocalBlobStore
from .common import base_url, open_runtime

PROBE_OWNER = "doctor"


def _checks(runtime: Runtime):
    """(name, function) pairs; a function returns a detail string or raises. Each makes the
    piece of the runtime it checks, so a failure is reported by the check it belongs to."""
    settings, state = runtime.settings, {}

    def secret():
        runtime.secret_key  # noqa: B018 - resolving it is the check
        return "REGISTRY_SECRET_KEY set" if settings.secret_key else f"generated, in {settings.data_dir}"

    def database():
        engine = runtime.engine
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return engine.url.render_as_string(hide_password=True)

    def migrations():
        current, head = migrate.current_revision(runtime.engine), migrate.head_revision(runtime.engine)
        if current != head:
            raise RuntimeError(f"at {current or 'nothing'}, newest is {head}: run `registry db upgrade`")
        return f"at {head}"

    def storage():
        state["store"] = store = runtime.store.bind(base_url(settings))
        store.check()
        return settings.storage if settings.storage == "local" else f"s3 bucket {settings.s3_bucket}"

    def presigned_round_trip():
        store, data = state["store"], f"doctor probe {uuid.uuid4()}".encode()
        digest = hashlib.sha256(data).hexdigest()
        try:
            if isinstance(store, LocalBlobStore):
                # The registry serves these URLs itself; check they verify, and that the folder stores bytes.
                url = store.object_url("PUT", PROBE_OWNER, digest)
                query = dict(part.split("=", 1) for part in url.split("?", 1)[1].split("&"))
                assert store.verify("PUT", PROBE_OWNER, digest, query["e"], query["s"]), "signature does not verify"
                store.write(PROBE_OWNER, digest, io.BytesIO(data))
            else:
                put = requests.put(store.object_url("PUT", PROBE_OWNER, digest), data=data, timeout=20)
                put.raise_for_status()
                got = requests.get(store.download_url(PROBE_OWNER, digest), timeout=20)
                got.raise_for_status()
                assert got.content == data, "downloaded bytes differ"
            return "upload and download through signed URLs work"
        finally:
            store.delete(PROBE_OWNER, digest)

    return [("secret key", secret), ("database reachable", database), ("migrations current", migrations),
            ("storage reachable", storage), ("presigned URL round trip", presigned_round_trip)]


@click.command(help="Check the configuration: secret, database, migrations, storage, presigned URLs.")
def doctor():
    failed = False
    with open_runtime() as runtime:
        for name, check in _checks(runtime):
            if failed:
                click.echo(f"skip  {name}")
                continue
            try:
                click.echo(f"ok    {name}: {check()}")
            except Exception as exc:  # noqa: BLE001 - every failure is reported the same way
                failed = True
                click.echo(f"FAIL  {name}: {(str(exc) or type(exc).__name__).splitlines()[0]}")
    if failed:
        raise SystemExit(1)

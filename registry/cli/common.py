"""What every command needs: settings, a service context for the operator, output as a table
or JSON, confirmations, and failures as one-line messages with a non-zero exit."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Iterator, Sequence

import click

from ..config import Settings
from ..errors import RegistryError
from ..runtime import Runtime
from ..secrets import ConfigurationError
from ..services.context import OPERATOR, Context

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
yes_option = click.option("--yes", is_flag=True, help="Do not ask for confirmation.")


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def base_url(settings: Settings) -> str:
    """Where links printed by commands point (password pages): set REGISTRY_PUBLIC_URL."""
    return settings.public_url.rstrip("/") or "http://127.0.0.1:8000"


@contextlib.contextmanager
def open_runtime(settings: Settings | None = None) -> Iterator[Runtime]:
    """The runtime `create_app` builds (registry.runtime), without the web app's database
    timeouts; its pieces are made as the command first uses them, its connections closed at the
    end. A configuration error (a weak or missing secret) is a one-line error."""
    runtime = Runtime(settings or load_settings())
    try:
        yield runtime
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.close()


@contextlib.contextmanager
def operator_context(runtime: Runtime | None = None) -> Iterator[Context]:
    """A service context for the operator, on `runtime` (or one of its own); committed on
    success, a RegistryError becomes a one-line error and exit status 1."""
    with contextlib.ExitStack() as stack:
        runtime = runtime or stack.enter_context(open_runtime())
        session = runtime.session_factory()
        try:
            url = base_url(runtime.settings)
            yield Context(session=session, settings=runtime.settings, store=runtime.store.bind(url),
                          actor=OPERATOR, base_url=url)
            session.commit()
        except RegistryError as exc:
            session.rollback()
            raise click.ClickException(exc.message) from None
        finally:
            session.close()


def confirm(message: str, yes: bool) -> None:
    if not yes:
        click.confirm(message, abort=True)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):  # epoch seconds
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value) or "-"
    return str(value)


def output(data, as_json: bool, columns: Sequence[str] | None = None) -> None:
    """JSON as is, or rows as an aligned table (a dict without `columns` as key: value lines)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if columns is None:
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            click.echo(f"{key:<{width}}  {_cell(value)}")
        return
    if not data:
        click.echo("(none)")
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in data]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def split_handle(handle: str) -> tuple[str, str]:
    owner, _, name = handle.partition("/")
    if not owner or not name or "/" in name:
        raise click.BadParameter(f"expected OWNER/NAME, not {handle!r}")
    return owner, name

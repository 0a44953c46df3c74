"""Jinja filters for sizes, times, hashes and shell words."""

from __future__ import annotations

import datetime as dt
import shlex

from flask import Flask

UNITS = ("B", "kB", "MB", "GB", "TB", "PB")


def filesize(value: int | None) -> str:
    if value is None:
        return ""
    size, unit = float(value), 0
    while size >= 1000 and unit < len(UNITS) - 1:
        size, unit = size / 1000, unit + 1
    return f"{int(size)} {UNITS[unit]}" if unit == 0 else f"{size:.1f} {UNITS[unit]}"


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


def when(epoch: float | None) -> str:
    """`2026-11-22 14:03 UTC`: the same for every reader, whatever their time zone."""
    return "" if epoch is None else _utc(epoch).strftime("%Y-%m-%d %H:%M UTC")


def isotime(epoch: float | None) -> str:
    return "" if epoch is None else _utc(epoch).isoformat(timespec="seconds")


def shorthash(value: str | None, length: int = 10) -> str:
    return (value or "")[:length]


def register_filters(app: Flask) -> None:
    # shell_quote: copy-and-paste command lines embed values a client chose (the Host header).
    app.jinja_env.filters.update(filesize=filesize, when=when, isotime=isotime, shorthash=shorthash,
                                 shell_quote=shlex.quote)

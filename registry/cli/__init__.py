"""The `registry` command for administrators on the server host."""

from __future__ import annotations

import click

from .db import db
from .serve import serve
from .users import users


@click.group(help="Run and administer the data-package registry. Settings come from REGISTRY_* variables.")
def main():
    pass


main.add_command(serve)
main.add_command(db)
main.add_command(users)

"""The `registry` command for administrators on the server host."""

from __future__ import annotations

import click

from .db import db
from .doctor import doctor
from .packages import packages
from .serve import serve
from .tokens import tokens
from .upkeep import blobs, gc, stats
from .users import users


@click.group(help="Run and administer the data-package registry. Settings come from REGISTRY_* variables.")
def main():
    pass


for command in (serve, db, users, tokens, packages, gc, blobs, stats, doctor):
    main.add_command(command)

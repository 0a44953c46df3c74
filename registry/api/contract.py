"""What each API route promises: its request body, query, answer, who may call it.

A route is marked with `@operation(...)` next to its Flask decorator; registry.api.openapi builds
the OpenAPI document from those marks and the same marshmallow schemas that validate the
requests and serialise the answers (`dumped`), so the document cannot drift from the code.
"""

from __future__ import annotations

import dataclasses
import functools

from flask import Response, jsonify
from marshmallow import Schema

# Who may call an operation.
ANYONE = "anyone"  # anonymous or signed in; what a caller sees depends on who it is
SIGNED_IN = "signed_in"
ADMIN = "admin"
NO_TOKEN = "no_token"  # the credentials are in the body (POST /api/token)


@dataclasses.dataclass(frozen=True)
class Operation:
    tag: str
    summary: str
    response: type[Schema]
    body: type[Schema] | dict | None = None  # a schema, or a JSON schema for bodies no schema names
    body_type: str = "application/json"
    query: type[Schema] | None = None
    auth: str = ANYONE
    errors: tuple[int, ...] = ()  # beyond those every operation of its kind can answer
    description: str = ""


def operation(tag: str, summary: str, response: type[Schema], **details):
    """Marks a view with its contract; the view itself is unchanged."""
    contract = Operation(tag, summary, response, **details)

    def mark(view):
        view.operation = contract
        return view
    return mark


@functools.cache
def _schema(schema_class: type[Schema]) -> Schema:
    return schema_class()  # stateless when dumping: one instance serves every request


def dump(schema_class: type[Schema], value) -> dict:
    return _schema(schema_class).dump(value)


def dumped(schema_class: type[Schema], value) -> Response:
    """`value` (a service's result) serialised through its response schema."""
    return jsonify(dump(schema_class, value))


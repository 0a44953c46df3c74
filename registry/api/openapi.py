"""The OpenAPI 3.1 document of the API, built from the routes' contracts (registry.api.contract)
and their marshmallow schemas, served at /api/openapi.json; and a reference page for people at
/api/reference, rendered here from the same document (no script, no external asset)."""

from __future__ import annotations

import importlib.metadata
import inspect
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, current_app, jsonify, render_template

from .. import names
from ..schemas import responses
from .contract import ADMIN, ANYONE, NO_TOKEN, SIGNED_IN, Operation, operation

bp = Blueprint("openapi", __name__, url_prefix="/api")
DOCUMENT_KEY = "registry.openapi"


def _pattern(regex: re.Pattern) -> str:
    """A Python whole-string rule as a JSON Schema pattern (ECMA: `$`, not `\\Z`)."""
    text = regex.pattern.removesuffix(r"\Z")
    return ("" if text.startswith("^") else "^") + text + "$"


USERNAME = {"type": "string", "pattern": _pattern(names.USERNAME_RE), "example": "alice"}
PATH_PARAMETERS = {
    "owner": USERNAME,
    "user": USERNAME,
    "name": {"type": "string", "pattern": _pattern(names.PACKAGE_NAME_RE), "example": "genome"},
    "tag": {"type": "string", "pattern": _pattern(names.TAG_NAME_RE), "example": "latest"},
    "version": {"type": "string", "pattern": _pattern(names.VERSION_TEXT_RE), "example": "1.0"},
    "top_hash": responses.HASH,
    "principal": {"type": "string", "description": "a user name, `public` or `team`",
                  "pattern": _pattern(names.USERNAME_RE)},
    "event_type": {"type": "string", "enum": ["push", "install", "preview", "delete"]},
    "token": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "the upload's token"},
    "subpath": {"type": "string", "description": "node names joined by `/`"},
}
PARAMETER_DESCRIPTIONS = {"owner": "the package's owner", "name": "the package's name",
                          "top_hash": "the instance's tophash (protocol.md 7)", "user": "a user name"}

BEARER = {"type": "http", "scheme": "bearer",
          "description": "An access token from POST /api/token (`Authorization: Bearer TOKEN`)."}
SECURITY = {ANYONE: [{}, {"bearer": []}], SIGNED_IN: [{"bearer": []}], ADMIN: [{"bearer": []}], NO_TOKEN: [{}]}
ERROR_MEANINGS = {
    400: "The request is malformed or breaks a rule (the message says which).",
    401: "No valid token (or anonymous access is off on this registry).",
    403: "Signed in, but not allowed.",
    404: "No such package, instance or object, or one the caller may not see (the two look alike).",
    409: "The request conflicts with the current state (a concurrent change, a moved tag).",
    413: "The request body is larger than GET /api/limits allows.",
    415: "The body is not JSON.",
    429: "Too many attempts; the Retry-After header says when to try again.",
    503: "A dependency (database, storage) is unavailable; retry after Retry-After seconds.",
}


def _schema_name(schema) -> str:
    """Answers keep their names (registry.schemas.responses); request bodies end in `Request`."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__ if cls.__module__ == responses.__name__ else cls.__name__.removesuffix("Schema") + "Request"
    if getattr(schema, "partial", False) or getattr(schema, "only", None):
        name += "Partial"
    return name


def _custom_field(converter, field, **_) -> dict:
    """Fields that check their own shape (HashList, SizeMap, strict scalars) say it in `json_schema`."""
    return dict(getattr(field, "json_schema", {}))


def build_document(app: Flask) -> dict:
    plugin = MarshmallowPlugin(schema_name_resolver=_schema_name)
    spec = APISpec(
        title="Data-package registry API", version=importlib.metadata.version("data-registry"),
        openapi_version="3.1.0", plugins=[plugin],
        info={"description": "The quilt 2 protocol (/api/...), this registry's SDK endpoints (/api/v2/...), "
                             "administration and audit. Every error has the one shape of the Error schema. "
                             "Limits a client must respect: GET /api/limits."})
    plugin.converter.add_attribute_function(_custom_field)
    spec.components.security_scheme("bearer", BEARER)
    spec.components.schema("Error", schema=responses.Error)
    for status, meaning in ERROR_MEANINGS.items():
        spec.components.response(str(status), {"description": meaning,
                                               "content": {"application/json": {"schema": "Error"}}})
    paths: dict[str, dict] = {}
    parameters: dict[str, list] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        contract = getattr(view, "operation", None)
        if contract is None:
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        parameters[path] = [_path_parameter(arg) for arg in _arguments(rule.rule)]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(contract, rule.endpoint, path,
                                                                    inspect.getdoc(view) or "")
    for path, operations in paths.items():
        spec.path(path=path, operations=operations, parameters=parameters[path])
    return _ecma_patterns(spec.to_dict())


def _arguments(rule: str) -> list[str]:
    return re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)


def _path_parameter(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name],
            "description": PARAMETER_DESCRIPTIONS.get(name, name.replace("_", " "))}


def _operation(contract: Operation, endpoint: str, path: str, docstring: str) -> dict:
    answer = {"200": {"description": contract.response.__doc__ or "Done.",
                      "content": {"application/json": {"schema": contract.response}}}}
    for status in sorted(_errors(contract, path)):
        answer[str(status)] = {"$ref": f"#/components/responses/{status}"}
    answer["default"] = {"$ref": "#/components/responses/503"}
    described = {"operationId": endpoint.replace(".", "_"), "tags": [contract.tag], "summary": contract.summary,
                 "security": SECURITY[contract.auth], "responses": answer}
    if contract.description or docstring:  # the view's docstring says more than its summary
        described["description"] = contract.description or " ".join(docstring.split())
    if contract.query is not None:
        described["parameters"] = [{"in": "query", "schema": contract.query}]
    if contract.body is not None:
        described["requestBody"] = {"required": True, "content": {contract.body_type: {"schema": contract.body}}}
    return described


def _errors(contract: Operation, path: str) -> set[int]:
    errors = set(contract.errors)
    if contract.auth != NO_TOKEN:
        errors.add(401)  # also for ANYONE: a registry may turn anonymous access off
    if contract.auth == ADMIN:
        errors.add(403)
    if "{owner}" in path or "{token}" in path or "{user}" in path:
        errors.add(404)
    if contract.body is not None:
        errors |= {400, 413}
    if contract.query is not None:
        errors.add(400)
    return errors


def _ecma_patterns(node):
    """Schemas' regexes are written for Python (`\\Z`); the document carries ECMA ones."""
    if isinstance(node, dict):
        return {key: (_pattern(re.compile(value)) if key == "pattern" and isinstance(value, str)
                      and value.endswith(r"\Z") else _ecma_patterns(value)) for key, value in node.items()}
    if isinstance(node, list):
        return [_ecma_patterns(value) for value in node]
    return node


def document() -> dict:
    built = current_app.extensions.get(DOCUMENT_KEY)
    if built is None:
        built = current_app.extensions[DOCUMENT_KEY] = build_document(current_app)
    return built


@bp.get("/openapi.json")
@operation("Meta", "This document", responses.OpenApiDocument)
def openapi_json():
    return jsonify(document())


@bp.get("/reference")
def reference():
    """The document as a page: every operation with its parameters, body and answers."""
    return render_template("api_reference.html", doc=document())

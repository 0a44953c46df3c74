"""The OpenAPI document (/api/openapi.json) against the code it describes: it is valid OpenAPI
3.1, covers every API route, and schemathesis' generated requests, as the owner of a package, a
stranger, an admin and an anonymous caller, never get a 5xx nor an answer the document does not
allow."""

from __future__ import annotations

import re

import pytest
import schemathesis
from jsonschema import Draft202012Validator

from registry.schemas import responses
from tests.support.fuzz import CALLERS, OWNER, fuzz, populate

EXAMPLES_PER_OPERATION = 12  # x 51 operations x 4 callers: about 2,200 requests per database


@pytest.fixture
def populated(registry):
    registry.known = populate(registry)
    return registry


def test_document_is_openapi_3_1(registry):
    document = registry.client.get("/api/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    for name, schema in document["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        for pattern in _patterns(schema):
            assert "\\Z" not in pattern, (name, pattern)  # ECMA regexes, not Python's


def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "pattern":
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_every_api_route_is_documented(registry):
    document = registry.client.get("/api/openapi.json").get_json()
    documented = {(method.upper(), path) for path, item in document["paths"].items()
                  for method in item if method != "parameters"}
    served = set()
    for rule in registry.app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint != "openapi.reference":
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            served |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == documented
    assert len(documented) >= 50
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                assert "default" in operation["responses"], (method, path)
                assert operation["security"], (method, path)


def test_answers_are_dumped_through_their_schemas(populated):
    """What the schemas let through is what the client always received (the quilt end-to-end
    suite checks the client side): the tag answer keeps every field and its order."""
    answer = populated.api("GET", f"/api/tag/{OWNER}/genome/latest", token=populated.token(OWNER))
    assert list(answer.get_json()) == list(responses.TaggedInstance().fields)
    assert answer.get_data().startswith(b'{"hash":')


def test_reference_page_lists_every_operation_without_external_assets(registry):
    document = registry.client.get("/api/openapi.json").get_json()
    page = registry.client.get("/api/reference")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for item in document["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                assert f'id="{operation["operationId"]}"' in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "the page loads something from elsewhere"


def test_generated_requests_get_documented_answers(populated):
    """About 2,200 requests per database: every operation as the owner, a stranger, an admin
    and anonymously."""
    report = fuzz(populated.app, CALLERS, populated.token, populated.known, examples=EXAMPLES_PER_OPERATION)
    print(report.summary())
    assert report.operations >= 50
    # Hypothesis drops duplicates, and an operation without parameters has few distinct cases.
    assert report.requests >= report.operations * len(CALLERS) * EXAMPLES_PER_OPERATION * 0.8
    assert not [status for status in report.statuses if status >= 500]
    assert not report.failures, "\n\n".join(report.failures)

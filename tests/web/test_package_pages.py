"""The package page and the instance pages: README, file tree, tags, versions, log, install
lines, badges, the owner's access list, and who may see them (everyone else gets the 404 page)."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from registry.models import User
from tests.helpers import sha256
from tests.web.pages import PASSWORD, get, sign_in

README = b"# Demo data\n\nNumbers and **bytes**. See [the docs](https://example.org/docs).\n"
FILES = {"README": README, "data/values.csv": b"id,value\n1,2\n", "data/deep/notes.txt": b"n" * 1500,
         "raw.bin": b"\x00" * 2500}


@pytest.fixture
def alice(registry):
    registry.create_user("alice", password=PASSWORD)
    return registry.token("alice")


def push(registry, token, name="demo", files=FILES, **kwargs):
    response, top_hash = registry.push(token, "alice", name, files, **kwargs)
    assert response.status_code == 200, response.get_json()
    return top_hash


def api(registry, method, path, token, body=None):
    response = registry.api(method, path, token=token, body=body)
    assert response.status_code == 200, response.get_json()


def test_the_owner_sees_everything_about_the_latest_instance(registry, alice):
    first = push(registry, alice, files={"README": b"old"}, message="first import")
    latest = push(registry, alice, message="add the data")
    api(registry, "PUT", "/api/tag/alice/demo/stable", alice, {"hash": first})
    api(registry, "PUT", "/api/version/alice/demo/1.0", alice, {"hash": latest})
    sign_in(registry.client, "alice")
    status, page = get(registry.client, "/package/alice/demo")
    assert status == 200
    assert '<span class="badge badge-private"' in page
    # README, rendered; its headings sit below the page's own.
    assert "<h3>Demo data</h3>" in page and "<strong>bytes</strong>" in page
    assert '<a href="https://example.org/docs" rel="noopener noreferrer nofollow">the docs</a>' in page
    # The tree of the latest instance: folders first, nested, with sizes and short hashes.
    rows = re.findall(r'<tr class="file-row kind-(\w+)" data-path="([^"]+)">', page)
    assert rows == [("group", "data"), ("group", "data/deep"), ("file", "data/deep/notes.txt"),
                    ("file", "data/values.csv"), ("file", "README"), ("file", "raw.bin")]
    assert "1.5 kB" in page and "2.5 kB" in page
    raw_hash = sha256(FILES["raw.bin"])
    assert f'<code title="{raw_hash}">{raw_hash[:10]}</code>' in page
    assert "<dt>q_path</dt><dd><code>data/values.csv</code></dd>" in page  # a file row's metadata
    assert "4 files, 4.1 kB" in page
    # Tags and versions link to their instances; the log names authors and messages, newest first.
    assert '<a href="/package/alice/demo?tag=stable">stable</a>' in page
    assert '<a href="/package/alice/demo?version=1.0">1.0</a>' in page
    log = page[page.index('id="log-heading"'):]
    assert log.index("add the data") < log.index("first import")
    assert log.count('<a href="/user/alice">alice</a>') == 2
    # How to install it, and (for the owner) who may read it.
    assert "export QUILT_PKG_URL=http://localhost\nquilt login\nquilt install alice/demo</code>" in page
    assert 'id="access-heading"' in page and "(owner)" in page


def test_an_instance_by_hash_tag_or_version(registry, alice):
    first = push(registry, alice, files={"README": b"first", "one.txt": b"1"})
    second = push(registry, alice, files={"README": b"second", "two.txt": b"2"})
    api(registry, "PUT", "/api/tag/alice/demo/old", alice, {"hash": first})
    api(registry, "PUT", "/api/version/alice/demo/2.0pre1", alice, {"hash": first})
    sign_in(registry.client, "alice")
    for url, install in [(f"/package/alice/demo/{first}", f"quilt install alice/demo -x {first}"),
                         ("/package/alice/demo?tag=old", "quilt install alice/demo -t old"),
                         ("/package/alice/demo?version=2.0pre1", "quilt install alice/demo -v 2.0pre1")]:
        status, page = get(registry.client, url)
        assert status == 200, url
        assert 'data-path="one.txt"' in page and 'data-path="two.txt"' not in page
        assert "<p>first</p>" in page and install in page and "Show latest" in page
        assert install.replace("quilt install alice/demo", "registry-client install alice/demo -r http://localhost") in page
    status, page = get(registry.client, "/package/alice/demo")
    assert 'data-path="two.txt"' in page and "Show latest" not in page
    assert '<tr class="current">' in page and second[:10] in page
    for missing in ("/package/alice/demo/" + "0" * 64, "/package/alice/demo/nothex",
                    "/package/alice/demo?tag=nope", "/package/alice/demo?version=9.9"):
        assert get(registry.client, missing)[0] == 404, missing
    status, page = get(registry.client, "/package/alice/demo?version=not a version")
    assert status == 400 and "Malformed version" in page


def test_without_latest_the_newest_push_is_shown(registry, alice):
    push(registry, alice, files={"README": b"older"})
    push(registry, alice, files={"README": b"newer"})
    registry.api("DELETE", "/api/tag/alice/demo/latest", token=alice)
    sign_in(registry.client, "alice")
    status, page = get(registry.client, "/package/alice/demo")
    assert status == 200 and "<p>newer</p>" in page


def test_a_readme_cannot_run_script(registry, alice):
    readme = (b"# Hi\n\n<script>window.__xss=1</script>\n\n<img src=x onerror=\"window.__xss=2\">\n\n"
              b"[link](javascript:window.__xss=3) <a href=\"javascript:window.__xss=4\" onclick=\"x()\">raw</a>\n\n"
              b"<iframe src=\"https://example.org\"></iframe><style>body{display:none}</style>"
              b"<div style=\"position:fixed\">styled</div>\n")
    push(registry, alice, files={"README": readme}, is_public=True)
    status, page = get(registry.client, "/package/alice/demo")
    assert status == 200
    readme_html = page[page.index('<div class="readme">'):page.index('id="files-heading"')]
    for forbidden in ("<script", "onerror", "onclick", "<iframe", "<style", "style="):
        assert forbidden not in readme_html.lower(), forbidden
    # markdown-it refuses to make a javascript: link at all (it stays text); nh3 drops the raw one's href.
    assert not re.search(r"(href|src)=[\"']?javascript:", readme_html, re.IGNORECASE)
    assert "[link](javascript:window.__xss=3)" in readme_html
    assert '<img src="x">' in readme_html and ">raw</a>" in readme_html and "styled" in readme_html


@pytest.mark.parametrize("sharing", ["private", "team", "public"])
def test_who_may_see_a_package(registry, alice, sharing):
    registry.create_user("bob", password=PASSWORD)
    registry.create_user("carol", password=PASSWORD)
    top_hash = push(registry, alice, is_public=sharing == "public", is_team=sharing == "team")
    api(registry, "PUT", "/api/access/alice/demo/carol", alice)
    anonymous = registry.app.test_client()
    bob = registry.app.test_client()
    carol = registry.app.test_client()
    sign_in(bob, "bob")
    sign_in(carol, "carol")
    expected = {"private": (404, 404, 200), "team": (404, 200, 200), "public": (200, 200, 200)}[sharing]
    for url in ("/package/alice/demo", f"/package/alice/demo/{top_hash}", "/package/alice/demo?tag=latest"):
        assert tuple(get(client, url)[0] for client in (anonymous, bob, carol)) == expected, url
    # Only the owner sees the access list, even where others may read.
    assert 'id="access-heading"' not in get(carol, "/package/alice/demo")[1]
    assert f'badge-{sharing}' in get(carol, "/package/alice/demo")[1]


def test_an_invisible_package_is_the_same_404_page_as_a_missing_one(registry, alice):
    push(registry, alice, name="secret")
    registry.create_user("bob", password=PASSWORD)
    for client, signed_in in ((registry.app.test_client(), False), (registry.app.test_client(), True)):
        if signed_in:
            sign_in(client, "bob")
        hidden_status, hidden = get(client, "/package/alice/secret")
        missing_status, missing = get(client, "/package/alice/absent")
        assert hidden_status == missing_status == 404
        assert hidden.replace("secret", "NAME") == missing.replace("absent", "NAME")
        assert "Not found" in hidden and html.escape("Package alice/secret does not exist") in hidden


def test_the_page_data_for_a_long_history(registry, alice):
    from registry.services import browse
    from registry.services.context import Actor, Context
    from registry.web.view_models import package_page

    for number in range(3):
        push(registry, alice, files={"README": b"v%d" % number}, message=f"push {number}")
    with registry.state.session_factory() as session:
        alice_user = session.scalar(select(User).where(User.name == "alice"))
        ctx = Context(session=session, settings=registry.state.settings, store=registry.state.store,
                      actor=Actor(alice_user), base_url="https://data.example.org")
        page = package_page(browse.package_details(ctx, "alice", "demo", pushes=2), ctx.base_url)
        whole = package_page(browse.package_details(ctx, "alice", "demo", pushes=3), ctx.base_url)
    assert [entry["message"] for entry in page["log"]] == ["push 2", "push 1"] and page["older_pushes"]
    assert [entry["message"] for entry in whole["log"]] == ["push 2", "push 1", "push 0"]
    assert not whole["older_pushes"]
    assert page["install"] == ["export QUILT_PKG_URL=https://data.example.org", "quilt login",
                               "quilt install alice/demo"]
    assert page["sdk_install"] == ["registry-client login -r https://data.example.org",
                                   "registry-client install alice/demo -r https://data.example.org"]
    assert page["access"] == ["alice"] and page["visibility"] == "private" and page["file_count"] == 1

"""Home, search results, user pages, the 404 page and what every HTML page sends."""

from __future__ import annotations

import re

import pytest

from registry.models import Access, Instance, Package
from tests.helpers import query_plans, recorded_statements
from tests.web.pages import PASSWORD, get, sign_in


@pytest.fixture
def packages(registry):
    """alice: public `census`, team `weather`, private `diary`; bob: public `birds`."""
    tokens = {}
    for name in ("alice", "bob"):
        registry.create_user(name, password=PASSWORD)
        tokens[name] = registry.token(name)
    for owner, name, sharing, readme in [("alice", "census", "public", b"Counts of people, by region."),
                                         ("alice", "weather", "team", b"Daily rain in mm."),
                                         ("alice", "diary", "private", b"Dear diary, rain again."),
                                         ("bob", "birds", "public", b"Sightings of birds in the rain.")]:
        response, _ = registry.push(tokens[owner], owner, name, {"README": readme, "data.csv": b"a\n1\n"},
                                    is_public=sharing == "public", is_team=sharing == "team")
        assert response.status_code == 200
    return tokens


def handles(page: str) -> list[str]:
    return re.findall(r'<a class="handle" href="/package/([^"]+)">', page)


def test_home_shows_the_recent_packages_the_viewer_may_see(registry, packages):
    status, page = get(registry.client, "/")
    assert status == 200
    assert handles(page) == ["bob/birds", "alice/census"]
    assert 'role="search"' in page and '<label for="home-q">' in page
    assert "You are not signed in" in page and 'href="/login?next=/"' in page and 'href="/signup"' in page
    sign_in(registry.client, "alice")
    status, page = get(registry.client, "/")
    assert handles(page) == ["bob/birds", "alice/diary", "alice/weather", "alice/census"]
    assert "Signed in as <a href=\"/user/alice\"><strong>alice</strong></a>" in page
    assert 'action="/logout"' in page and 'href="/account"' in page


def test_search_is_the_api_search(registry, packages):
    for client_name in (None, "bob"):
        client = registry.app.test_client()
        token = None
        if client_name:
            sign_in(client, client_name)
            token = packages[client_name]
        for query in ("rain", "census", "data", "rain birds", ""):
            api = registry.api("GET", f"/api/search/?q={query}", token=token).get_json()["packages"]
            status, page = get(client, f"/search?q={query}")
            assert status == 200
            assert handles(page) == [f"{p['owner']}/{p['name']}" for p in api], (client_name, query)
    status, page = get(registry.client, "/search?q=rain")
    assert "Sightings of birds in the rain." in page and 'badge-public' in page
    status, page = get(registry.client, "/search?q=nothing-matches")
    assert status == 200 and "No package you can see matches." in page


def test_search_pages(registry):
    registry.create_user("alice")
    token = registry.token("alice")
    for number in range(23):
        response, _ = registry.push(token, "alice", f"pkg{number:02d}", {"a": b"a"}, is_public=True)
        assert response.status_code == 200
    status, first = get(registry.client, "/search?q=pkg")
    assert status == 200 and len(handles(first)) == 20 and "Results 1–20" in first
    assert 'rel="prev"' not in first
    next_url = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    status, second = get(registry.client, next_url)
    assert handles(second) == ["alice/pkg20", "alice/pkg21", "alice/pkg22"] and "Results 21–23" in second
    assert 'rel="next"' not in second
    previous_url = re.search(r'<a rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert handles(get(registry.client, previous_url)[1]) == handles(first)
    status, page = get(registry.client, "/search?q=pkg&cursor=garbage")
    assert status == 400 and "Invalid cursor" in page
    status, page = get(registry.client, "/search?q=" + "+".join("w" * 11))
    assert status == 400 and "Too many search terms" in page


def test_user_pages_list_what_the_viewer_may_see(registry, packages):
    status, page = get(registry.client, "/user/alice")
    assert status == 200 and "<h1>alice</h1>" in page
    assert handles(page) == ["alice/census"]
    sign_in(registry.client, "bob")
    assert handles(get(registry.client, "/user/alice")[1]) == ["alice/census", "alice/weather"]
    assert handles(get(registry.client, "/user/bob")[1]) == ["bob/birds"]
    status, page = get(registry.client, "/user/nobody")
    assert status == 404 and "User nobody does not exist" in page


def test_user_pages_show_a_hundred_packages_at_a_time_by_name(registry):
    """An owner may have any number of packages (one push each) and anyone may view their page:
    it shows 100 by name without case, and a Next link that starts after the last one shown.
    Each page walks the key `folded_handle` from there (4.9 s for one page of 50,000 before)."""
    registry.create_user("alice")
    registry.create_user("alicia")  # her packages sort next to alice's and are never shown
    names = [f"{'P' if number % 3 else 'p'}kg_{number:03}" for number in range(205)]
    others = [("alicia", f"pkg_{number:03}") for number in range(1_000)]
    with registry.state.session_factory() as session:
        for owner, name in [("alice", name) for name in names] + others:
            package = Package(owner=owner, name=name, folded_handle=f"{owner}/{name.lower()}")
            session.add(package)
            session.flush()
            if name != "pkg_150":  # private: nobody else sees it
                session.add(Access(package_id=package.id, principal="public"))
            session.add(Instance(package_id=package.id, hash=f"{package.id:064x}", created_by=owner, updated_by=owner))
        session.commit()
    engine = registry.state.engine
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE TABLE instance, package, access")
    shown = [name for name in names if name != "pkg_150"]
    with recorded_statements(engine) as recorded:
        status, first = get(registry.client, "/user/alice")
    assert status == 200 and handles(first) == [f"alice/{name}" for name in shown[:100]]
    assert f'href="/user/alice?after={shown[99]}"' in first and "First page" not in first
    status, second = get(registry.client, f"/user/alice?after={shown[99]}")
    assert status == 200 and handles(second) == [f"alice/{name}" for name in shown[100:200]]
    assert f"<h2>Packages after {shown[99]}</h2>" in second and 'href="/user/alice"' in second
    status, last = get(registry.client, f"/user/alice?after={shown[200]}")  # any case: `PKG_201` is as good
    assert status == 200 and handles(last) == [f"alice/{name}" for name in shown[-3:]] == [
        "alice/Pkg_202", "alice/Pkg_203", "alice/pkg_204"]
    assert handles(get(registry.client, "/user/alice?after=PKG_201")[1]) == handles(last)
    assert "after=" not in last.split("<nav", 2)[-1]  # no Next after the last page
    status, past = get(registry.client, "/user/alice?after=zzz")
    assert status == 200 and handles(past) == [] and "No packages of alice that you can see." in past
    for after in ("not a name", "x" * 65, "../bob"):
        status, page = get(registry.client, f"/user/alice?after={after}")
        assert status == 400 and "Invalid page" in page
    seen = [(statement, parameters) for statement, parameters in recorded if "folded_handle >" in statement]
    assert len(seen) == 1
    for plan in query_plans(engine, seen):  # the page's packages: one walk of their key, unsorted
        if engine.dialect.name == "sqlite":
            assert plan[0].startswith("SEARCH package USING INDEX sqlite_autoindex_package_2 (folded_handle>?"), plan
            assert not any("TEMP B-TREE" in step for step in plan), plan
        else:
            assert (plan[0]["table"], plan[0]["key"], "filesort" in (plan[0]["Extra"] or "")) == (
                "package", "uq_package_folded_handle", False), plan


def test_unknown_pages_are_the_html_404_page(registry):
    status, page = get(registry.client, "/no/such/page")
    assert status == 404 and "<h1>Not found</h1>" in page
    assert get(registry.client, "/package/alice")[0] == 404


def test_html_pages_forbid_inline_script_and_framing(registry, packages):
    for url in ("/", "/search?q=rain", "/package/alice/census", "/user/alice", "/login", "/signup", "/nowhere"):
        response = registry.client.get(url)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self'" in policy, url
        assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        page = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), url  # no inline script of our own
        assert not re.search(r"\son[a-z]+=", page), url  # no inline event handlers
        assert not re.search(r"\sstyle=", page), url  # the policy forbids inline styles too
    api = registry.client.get("/api/search/?q=rain")
    assert "Content-Security-Policy" not in api.headers


def test_pages_have_labels_and_one_heading(registry, packages):
    sign_in(registry.client, "alice")
    for url in ("/", "/search?q=rain", "/package/alice/census", "/user/alice", "/account", "/login"):
        page = get(registry.client, url)[1]
        assert page.count("<h1") == 1, url
        assert '<html lang="en">' in page and 'name="viewport"' in page
        for field in re.findall(r'<input id="([^"]+)"', page):
            assert f'<label for="{field}"' in page, (url, field)


def test_static_files(registry):
    with registry.client.get("/static/registry.css") as css, registry.client.get("/static/registry.js") as js:
        assert css.status_code == js.status_code == 200
        assert "@media" in css.get_data(as_text=True) and "data-copy" in js.get_data(as_text=True)


def test_recent_packages_find_each_newest_instance_through_the_index(registry):
    """The home page and `GET /api/recent_packages/` rank packages by their newest instance:
    the index (package_id, updated_at) (migration 0010) gives it in one step per package, so a
    view costs what the packages are, not what their history is. Before, MariaDB read every
    instance of every readable package for each view (1.5 s at 500,000 instances), and anyone
    may ask."""
    registry.create_user("alice")
    with registry.state.session_factory() as session:  # 40 public packages of 50 instances each
        for p in range(40):
            package = Package(owner="alice", name=f"p{p}", folded_handle=f"alice/p{p}")
            session.add(package)
            session.flush()
            session.add(Access(package_id=package.id, principal="public"))
            session.add_all(Instance(package_id=package.id, hash=f"{p:032x}{i:032x}", created_by="alice",
                                     updated_by="alice") for i in range(50))
        session.commit()
    engine = registry.state.engine
    if engine.dialect.name != "sqlite":  # the statistics a server keeps up to date, now
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE TABLE instance, package, access")
    with recorded_statements(engine) as recorded:
        assert len(registry.api("GET", "/api/recent_packages/?count=5").get_json()["packages"]) == 5
        status, home = get(registry.client, "/")
        assert status == 200 and "alice/p" in home
    seen = [(statement, parameters) for statement, parameters in recorded
            if "ORDER BY instance.updated_at DESC" in statement]
    assert len(seen) == 2
    for plan in query_plans(engine, seen):
        if engine.dialect.name == "sqlite":
            steps = [step for step in plan if " instance " in f" {step} "]
            assert steps and set(steps) == {
                "SEARCH instance USING COVERING INDEX ix_instance_package_id_updated_at (package_id=?)"}, steps
        else:
            steps = {(row["type"], row["key"], "Using index" in (row["Extra"] or "")) for row in plan
                     if row["table"] == "instance"}
            assert steps == {("ref", "ix_instance_package_id_updated_at", True)}, \
                [(r["table"], r["type"], r["key"], r["rows"], r["Extra"]) for r in plan]

"""A person in Chromium: sign in and read the login code, push with the real quilt client, browse
the package, open a file row, search, sign out; and a README full of script that runs none of it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from registry import create_app
from tests.helpers import TestRegistry
from tests.support.quilt_cli import QuiltClient
from tests.web.browser.conftest import save_artifact
from tests.web.pages import PASSWORD

pytestmark = pytest.mark.browser

README = """# Station weather

Hourly readings from the roof station, cleaned and checked.

| file | what |
| --- | --- |
| `readings.csv` | temperature (°C) and rain (mm) per hour |
| `notes/method.txt` | how the sensors were calibrated |

Licence: [CC BY 4.0](https://creativecommons.org/licenses/by/4.0/).
"""

XSS_README = b"""# Harmless

<script>window.__xss=1</script>

<img src=x onerror="window.__xss=2">

[link](javascript:window.__xss=3)

<a href="javascript:window.__xss=4" onclick="window.__xss=5">raw link</a>
"""

INLINE_HANDLERS = """() => [...document.querySelectorAll('*')].flatMap(element =>
    [...element.attributes].filter(attribute => attribute.name.startsWith('on')).map(a => element.tagName + ' ' + a.name))"""


def sign_in(page, url: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_person_browses_a_package_pushed_by_the_quilt_client(live, tab, quilt_venv, tmp_path):
    page = tab.page
    # `quilt login` sends people to /login: they sign in and copy the code from the page.
    sign_in(page, live.url)
    code = page.locator("#login-code").inner_text().strip()
    assert len(code) > 20
    folder = tmp_path / "weather"
    (folder / "notes").mkdir(parents=True)
    (folder / "README.md").write_text(README)
    (folder / "readings.csv").write_text("hour,temperature,rain\n0,11.5,0.0\n1,11.1,0.2\n")
    (folder / "notes" / "method.txt").write_text("Calibrated against the reference thermometer.\n")
    client = QuiltClient(quilt_venv, tmp_path / "client", live.url)
    client.login(code)
    client.build_raw("alice/weather", folder)
    client.run("push", "alice/weather")

    # Home: signed in, the package among the recent ones.
    page.goto(live.url)
    assert page.locator("header.site").get_by_text("Signed in as").is_visible()
    page.get_by_role("link", name="alice/weather").click()
    # A click returns once the next page starts loading: wait for it before reading it.
    page.wait_for_url(f"{live.url}/package/alice/weather", wait_until="load")
    assert page.locator("h1").inner_text() == "alice/weather"
    assert page.locator(".readme h3").inner_text() == "Station weather"
    assert page.locator(".readme table td").first.inner_text() == "readings.csv"
    assert page.locator(".badge").first.inner_text() == "Private"
    assert f"export QUILT_PKG_URL={live.url}" in page.locator('pre[data-copy="install commands"]').inner_text()
    assert "quilt install alice/weather" in page.locator('pre[data-copy="install commands"]').inner_text()
    assert page.locator("table.log tbody tr").count() == 1
    assert page.locator("table.log tbody tr td").nth(1).inner_text() == "alice"

    # A file row opens to show its metadata.
    row = page.locator('tr.file-row[data-path="readings"]')
    assert not row.locator("dl.metadata").is_visible()
    row.locator("summary").click()
    assert row.locator("dl.metadata").is_visible()
    assert "readings.csv" in row.locator("dl.metadata").inner_text()
    shot = tmp_path / "package-page.png"
    page.screenshot(path=str(shot), full_page=True)
    save_artifact(shot, "package-page.png")

    # On a phone the page reflows instead of scrolling sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    save_artifact(tmp_path / "phone.png", "package-page-phone.png")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Search from the header.
    page.get_by_label("Search packages").fill("calibrated")
    page.get_by_label("Search packages").press("Enter")
    page.wait_for_url(f"{live.url}/search?**", wait_until="load")
    assert page.locator("h1").inner_text() == "Packages matching “calibrated”"
    assert page.locator("a.handle").all_inner_texts() == ["alice/weather"]

    # Sign out: the private package is a 404 page like any missing one.
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("header.site").get_by_role("link", name="Sign in")).to_be_visible()
    response = page.goto(f"{live.url}/package/alice/weather")
    assert response.status == 404 and page.locator("h1").inner_text() == "Not found"
    assert tab.policy_violations() == []


def test_a_readme_with_script_runs_none_of_it(live, tab, settings):
    app = create_app(settings)
    registry = TestRegistry(app)
    token = registry.token("alice")
    response, _ = registry.push(token, "alice", "harmless", {"README": XSS_README, "a.txt": b"a"}, is_public=True)
    app.extensions["registry"].engine.dispose()
    assert response.status_code == 200

    page = tab.page
    page.goto(f"{live.url}/package/alice/harmless")
    page.wait_for_load_state("load")
    assert page.locator(".readme h3").inner_text() == "Harmless"
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.locator(".readme").get_by_text("[link](javascript:window.__xss=3)").click()
    page.locator(".readme a", has_text="raw link").click()
    assert page.url == f"{live.url}/package/alice/harmless"
    assert page.evaluate("typeof window.__xss") == "undefined"
    assert page.evaluate(INLINE_HANDLERS) == []
    assert page.locator(".readme script").count() == 0
    assert page.locator('[href^="javascript:" i], [src^="javascript:" i]').count() == 0
    assert tab.policy_violations() == []

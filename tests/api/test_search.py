"""GET /api/search/ (protocol.md 9.11.1): AND over words, ranked, visibility-aware, paginated."""

import pytest


@pytest.fixture
def catalogue(registry):
    for name in ("alice", "bob", "test_user"):
        registry.create_user(name)
    alice = registry.token("alice")
    registry.push(alice, "alice", "weather", {"README": b"Daily temperatures, released yearly.", "stations": b"s"},
                  is_public=True)
    registry.push(alice, "alice", "census", {"README": b"People counts", "weather_links": b"w"}, is_public=True)
    registry.push(alice, "alice", "notes", {"README": b"Mentions weather only here"}, is_public=True)
    registry.push(alice, "alice", "secret_weather", {"a": b"a"})
    registry.push(registry.token("test_user"), "test_user", "Public1", {"a": b"b"}, is_public=True)
    return registry


def names(registry, query, token=None, **params):
    response = registry.api("GET", "/api/search/", token=token, query_string={"q": query, **params})
    assert response.status_code == 200, response.get_json()
    return [f"{p['owner']}/{p['name']}" for p in response.get_json()["packages"]]


def test_name_matches_rank_above_node_names_above_readme(catalogue):
    assert names(catalogue, "weather") == ["alice/weather", "alice/census", "alice/notes"]
    assert names(catalogue, "weather", catalogue.token("alice")) == [
        "alice/secret_weather", "alice/weather", "alice/census", "alice/notes"]


def test_every_word_must_match_case_insensitively(catalogue):
    assert names(catalogue, "WEATHER alice") == ["alice/weather", "alice/census", "alice/notes"]
    assert names(catalogue, "weather released") == ["alice/weather"]
    assert names(catalogue, "test_user/public1") == ["test_user/Public1"]
    assert names(catalogue, "Test_User/Public1") == ["test_user/Public1"]
    assert names(catalogue, "test_user public1") == ["test_user/Public1"]
    assert names(catalogue, "nothing-like-this") == []


def test_empty_query_lists_everything_visible_by_owner_and_name(catalogue):
    assert names(catalogue, "") == ["alice/census", "alice/notes", "alice/weather", "test_user/Public1"]
    assert names(catalogue, "", catalogue.token("bob")) == names(catalogue, "")


def test_items_carry_flags_preview_and_rank(catalogue):
    item = catalogue.api("GET", "/api/search/?q=released").get_json()["packages"][0]
    assert item == {"owner": "alice", "name": "weather", "is_public": True, "is_team": False,
                    "readme_preview": "Daily temperatures, released yearly.", "rank": 1}


def test_wildcards_are_literal(catalogue):
    assert names(catalogue, "%") == []
    assert names(catalogue, "test_") == ["test_user/Public1"]
    assert names(catalogue, "t_st") == []


def test_packages_without_latest_are_not_candidates(catalogue):
    alice = catalogue.token("alice")
    catalogue.api("DELETE", "/api/tag/alice/notes/latest", token=alice)
    assert "alice/notes" not in names(catalogue, "")


def test_pagination(catalogue):
    first = catalogue.api("GET", "/api/search/?q=&limit=3").get_json()
    assert [p["name"] for p in first["packages"]] == ["census", "notes", "weather"]
    second = catalogue.api("GET", "/api/search/", query_string={"q": "", "limit": 3, "cursor": first["next_cursor"]})
    assert ([p["name"] for p in second.get_json()["packages"]], second.get_json()["next_cursor"]) == (["Public1"], None)


@pytest.mark.parametrize("params,message", [
    ({"limit": 0}, "limit must be between 1 and 1000"),
    ({"limit": "many"}, "limit"),
    ({"cursor": "nonsense"}, "Invalid cursor"),
    ({"q": " ".join("w" * 11)}, "Too many search terms (max is 10)"),
])
def test_bad_parameters(catalogue, params, message):
    response = catalogue.api("GET", "/api/search/", query_string={"q": "x", **params})
    assert response.status_code == 400 and message in response.get_json()["message"]

"""What the pages show of the services' data: the package page's file tree (display order, sizes,
hashes, metadata, the row limit), badges and search excerpts."""

from registry.web.view_models import EXCERPT_CHARS, excerpt, file_rows, listed, visibility

H = [c * 64 for c in "abcdef"]


def tree():
    meta = {"q_ext": "csv", "q_path": "raw/data.csv", "q_target": "pandas"}
    return {"type": "ROOT", "children": {
        "zeta": {"type": "FILE", "hashes": [H[0]], "metadata": {"q_path": "zeta"}},
        "raw": {"type": "GROUP", "children": {
            "data": {"type": "TABLE", "format": "PARQUET", "hashes": [H[1], H[2]], "metadata": meta,
                     "metadata_hash": H[5]},
            "inner": {"type": "GROUP", "children": {"x": {"type": "FILE", "hashes": [H[3]]}}},
        }},
        "alpha": {"type": "FILE", "hashes": [H[4]]},
    }}


def test_rows_are_folders_first_with_summed_sizes():
    sizes = {H[0]: 1, H[1]: 10, H[2]: 20, H[3]: 300, H[4]: 4000}
    rows, totals = file_rows(tree(), sizes)
    assert [(r["path"], r["depth"], r["kind"], r["size"]) for r in rows] == [
        ("raw", 0, "group", 330), ("raw/inner", 1, "group", 300), ("raw/inner/x", 2, "file", 300),
        ("raw/data", 1, "table", 30), ("alpha", 0, "file", 4000), ("zeta", 0, "file", 1)]
    assert totals == {"files": 4, "size": 4331, "rows": 6}
    table = rows[3]
    assert table["hashes"] == [H[1], H[2]] and table["short_hash"] == "b" * 10 and table["format"] == "PARQUET"
    assert table["metadata"]["q_target"] == "pandas" and table["metadata_hash"] == H[5]
    assert table["source"] == "data.csv"  # the file it was built from, when its name differs
    assert rows[5]["source"] == "" and rows[4]["metadata"] == {}


def test_only_the_first_rows_are_listed_but_totals_cover_everything():
    rows, totals = file_rows(tree(), {}, limit=2)
    assert [r["path"] for r in rows] == ["raw", "raw/inner"]
    assert totals == {"files": 4, "size": 0, "rows": 6}


def test_visibility_badges():
    assert [visibility(True, True), visibility(False, True), visibility(False, False)] == ["public", "team", "private"]


def test_listed_packages_get_a_badge_and_search_hits_an_excerpt():
    item = {"owner": "alice", "name": "demo", "is_public": False, "is_team": True, "updated_at": 5}
    assert listed(item) == {"owner": "alice", "name": "demo", "visibility": "team", "updated_at": 5}
    hit = listed({**item, "updated_at": None, "readme_preview": "# Demo\n\n  data  " + "word " * 100})
    assert hit["excerpt"].startswith("# Demo data word") and hit["excerpt"].endswith("…")
    assert len(hit["excerpt"]) <= EXCERPT_CHARS + 1 and excerpt(None) == ""

"""The gram index of what search reads (services.grams): node names (keyword sets) and README
previews. It finds what a scan of every package's texts finds, on both databases, and spares
the reading of the texts that cannot hold a word."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import delete, func, select, update

from registry.models import Blob, KeywordGram, KeywordSet, ReadmeGram
from registry.services import grams, readme

NAMES = ["data.csv", "raw bin", "température_2024", "東京の天気", "a", "zz", "part_00017", "ÉTÉ", "🦆quack",
         "x" * 255, "readme", "the_weather_of_each_day"]


def reference_grams(text: str) -> set[int]:
    """Every 1, 2 and 3-byte slice of each whitespace-separated word, the plain way."""
    found = set()
    for word in text.split():
        data = word.encode()
        for size in (1, 2, 3):
            found.update(size << 24 | int.from_bytes(data[start:start + size], "big")
                         for start in range(len(data) - size + 1))
    return found


def test_grams_are_every_one_to_three_byte_slice_between_blanks():
    words = " ".join(sorted(name.lower() for name in NAMES))
    assert grams.text_grams(words) == sorted(reference_grams(words))
    text = "Line one\tand\r\nline\x0btwo\x1fend  "
    assert grams.text_grams(text) == sorted(reference_grams(text))
    assert grams.text_grams("") == []
    assert grams.text_grams("ab") == [1 << 24 | ord("a"), 1 << 24 | ord("b"), 2 << 24 | ord("a") << 8 | ord("b")]


def test_a_word_that_is_in_the_text_has_all_its_grams_there():
    rng = random.Random(7)
    words = " ".join(sorted(name.lower() for name in NAMES))
    held = set(grams.text_grams(words))
    for name in words.split(" "):
        for _ in range(20):
            start = rng.randrange(len(name))
            word = name[start:rng.randrange(start + 1, len(name) + 1)]
            found = grams.word_grams(word)
            assert found and set(found) <= held, word
            assert len(found) <= grams.MAX_WORD_GRAMS
    assert not set(grams.word_grams("weathers")) <= held  # "rs" follows "he" nowhere


def test_long_words_are_looked_up_by_spread_triples():
    found = grams.word_grams("abcdefghijklmnopqrstuvwxyz0123456789")
    assert len(found) == grams.MAX_WORD_GRAMS
    assert 3 << 24 | int.from_bytes(b"abc", "big") in found and 3 << 24 | int.from_bytes(b"789", "big") in found
    assert grams.word_grams("q") == [1 << 24 | ord("q")] and grams.word_grams("") == []


def test_texts_of_too_many_grams_are_not_indexed(monkeypatch):
    monkeypatch.setattr(grams, "MAX_TEXT_GRAMS", 9)
    assert grams.text_grams("abcd") == sorted(reference_grams("abcd"))  # a b c d, ab bc cd, abc bcd
    monkeypatch.setattr(grams, "MAX_TEXT_GRAMS", 8)
    assert grams.text_grams("abcd") is None


def test_readme_grams_cover_the_databases_lower_case_too():
    """LOWER() in the database maps a final "Σ" to "σ" and "İ" to "i"; Python's lower() does not."""
    found = set(readme.search_grams("ΟΔΟΣ İstanbul"))
    assert set(grams.word_grams("οδοσ")) <= found and set(grams.word_grams("οδος")) <= found
    assert set(grams.word_grams("istanbul")) <= found and set(grams.word_grams("i̇stanbul")) <= found


ALPHABET = "abcé東_ "


def _random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


def _random_names(rng: random.Random, count: int) -> list[str]:
    names = {_random_text(rng, rng.randrange(1, 9)).strip() for _ in range(count)}
    return sorted(name for name in names if name and name.lower() != "readme")


@pytest.fixture
def random_packages(registry):
    """Six public packages of random names and READMEs over a small alphabet (so most grams of
    most words are somewhere: the index must narrow, not decide) and what search must match."""
    rng = random.Random(11)
    registry.create_user("alice")
    token = registry.token("alice")
    texts_of = {}
    for number in range(6):
        files = {name: f"{number}/{name}".encode() for name in _random_names(rng, 30)}
        files["README"] = _random_text(rng, 60).upper().encode()
        response, _ = registry.push(token, "alice", f"p{number}", files, is_public=True)
        assert response.status_code == 200, response.get_json()
        texts_of[f"alice/p{number}"] = [name.lower() for name in files] + [files["README"].decode().lower()]
    return registry, texts_of


def _found(registry, query: str) -> set[str]:
    response = registry.api("GET", "/api/search/", query_string={"q": query})
    assert response.status_code == 200, response.get_json()
    return {f"{p['owner']}/{p['name']}" for p in response.get_json()["packages"]}


def test_search_through_the_index_finds_what_a_scan_of_the_texts_finds(random_packages):
    """The same queries answered through the index, then with every text marked unindexed, when
    every text is read as search read them all before the index (each database's LOWER()
    included); and, for the ASCII words, what Python finds."""
    registry, texts_of = random_packages
    with registry.state.session_factory() as session:
        for table in (KeywordGram, ReadmeGram):
            assert session.scalar(select(func.count()).select_from(table)) > 0
        assert set(session.scalars(select(KeywordSet.indexed))) == {True}
        assert set(session.scalars(select(Blob.preview_indexed).where(Blob.preview.is_not(None)))) == {True}
    rng = random.Random(5)
    queries = [_random_text(rng, rng.randrange(1, 7)).replace(" ", "") or "a" for _ in range(150)]
    queries += [f"{a} {b}" for a, b in zip(queries[:20], queries[20:40])]
    indexed = {query: _found(registry, query) for query in queries}
    with registry.state.session_factory() as session:
        _mark_unindexed(session)
    scanned = {query: _found(registry, query) for query in queries}
    assert indexed == scanned
    for query in (q for q in queries if q.isascii()):
        assert indexed[query] == {handle for handle, texts in texts_of.items()
                                  if all(word in handle or any(word in t for t in texts) for word in query.split())}
    told_apart = sum(bool(found) and found != set(texts_of) for found in indexed.values())
    assert told_apart > 20  # the queries tell the packages apart, not all or nothing


def test_a_text_with_too_many_grams_is_read_whatever_the_word(registry, monkeypatch):
    monkeypatch.setattr(grams, "MAX_TEXT_GRAMS", 10)
    registry.create_user("alice")
    response, _ = registry.push(registry.token("alice"), "alice", "wide",
                                {"tempête": b"t", "quartz": b"q", "README": b"Granite and basalt"}, is_public=True)
    assert response.status_code == 200
    with registry.state.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(KeywordGram)) == 0
        assert session.scalar(select(func.count()).select_from(ReadmeGram)) == 0
        assert session.scalars(select(KeywordSet.indexed)).all() == [False]
        assert session.scalars(select(Blob.preview_indexed).where(Blob.preview.is_not(None))).all() == [False]
    assert _found(registry, "pêt") == _found(registry, "UAR") == _found(registry, "basal") == {"alice/wide"}
    assert _found(registry, "zq") == set()


def test_the_index_decides_which_texts_are_read(registry):
    """A text is read only when its grams hold every gram of the word: without the word's grams
    its names and README are not read, so not found; marked unindexed (as an older registry
    writes them), they are read again."""
    registry.create_user("alice")
    response, _ = registry.push(registry.token("alice"), "alice", "pkg", {"tempest": b"t", "README": b"Gale force"},
                                is_public=True)
    assert response.status_code == 200
    assert _found(registry, "empe") == _found(registry, "gale") == {"alice/pkg"}
    with registry.state.session_factory() as session:
        session.execute(delete(KeywordGram).where(KeywordGram.gram.in_(grams.word_grams("empe"))))
        session.execute(delete(ReadmeGram).where(ReadmeGram.gram.in_(grams.word_grams("gale"))))
        session.commit()
        assert session.scalar(select(func.count()).select_from(KeywordGram)) > 0
        assert session.scalar(select(func.count()).select_from(ReadmeGram)) > 0
        assert _found(registry, "empe") == _found(registry, "gale") == set()
        assert _found(registry, "tempest") == set() and _found(registry, "force") == {"alice/pkg"}
        _mark_unindexed(session)
    assert _found(registry, "empe") == _found(registry, "gale") == {"alice/pkg"}


def _mark_unindexed(session) -> None:
    session.execute(update(KeywordSet).values(indexed=False))
    session.execute(update(Blob).values(preview_indexed=False))
    session.commit()

"""What a search costs as the registry grows, with the gram index of node names and READMEs
(services.grams) against a read of every package's texts (the same query without the index's
condition, which is how search read every text before it), in the same run, on MariaDB.

Public packages, each with its own 2,000 node names of made-up words and numbers (about 30 KB,
as a package of 2,000 files has) and a README of 4 KB of made-up words, 300, 1,000 and 3,000
of them; then 32 packages of 1 MB of names (as long as a push may make them). Searched in
process (Flask's test client) for:

- nothing (`q=`): no text compared; the baseline of the run;
- one word found nowhere (its grams are in no text);
- one word found in one package;
- ten words found nowhere whose grams most sets hold (`00000` to `99999`: the names have
  numbers of four digits): the index narrows little and most names are read, as before;

each the median of 3. It first prints what indexing its names costs the scale table's push of
100,000 files.

    python benchmarks/search_index.py [--database-url mysql+pymysql://root@127.0.0.1:3306/]

It creates a database `registry_bench_<random>` and drops it at exit.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's registry and tests

from sqlalchemy import select  # noqa: E402 (after the path)

from registry import Settings, create_app  # noqa: E402
from registry.models import Instance, Package, Tag  # noqa: E402
from registry.services import grams, keywords  # noqa: E402
from scale_stack import database, small_files  # noqa: E402
from tests.helpers import LATE_WORDS, TestRegistry, build_tree, rename_keyword_set, slow_search_names  # noqa: E402

LEVELS = (300, 1000, 3000)
WIDE_PACKAGES = 32
SYLLABLES = ["ka", "lo", "mi", "ren", "tu", "vas", "zel", "po", "shi", "dra", "ne", "qui"]
SECRET = "search-index-benchmark-secret-key-0123456789"


def made_up_names(rng: random.Random, count: int = 2000) -> str:
    names = set()
    while len(names) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randrange(2, 4)))
        names.add(f"{word}_{rng.randrange(10_000):04d}.{rng.choice(['csv', 'parquet', 'json', 'png'])}")
    return " ".join(sorted(names))


QUERIES = {"nothing (baseline)": "", "one word found nowhere": "found-nowhere",
           "one word found in one package": "unique-0",
           "ten words found nowhere whose grams most sets hold": " ".join(str(d) * 5 for d in range(10))}


def median_search(client, query: str) -> tuple[float, int, int]:
    times, statuses, found = [], set(), 0
    for _ in range(3):
        started = time.perf_counter()
        response = client.get("/api/search/", query_string={"q": query})
        times.append(time.perf_counter() - started)
        statuses.add(response.status_code)
        found = len(response.get_json().get("packages", []))
    assert statuses == {200}, statuses
    return statistics.median(times), statuses.pop(), found


def made_up_readme(rng: random.Random) -> bytes:
    words = [rng.choice(SYLLABLES) + rng.choice(SYLLABLES) for _ in range(800)]
    return " ".join(words).capitalize().encode()[:4096]


def set_names(session, package_name: str, words: str) -> None:
    """Gives the keyword set of `package_name`'s latest instance these names, indexed."""
    set_id = session.scalar(select(Instance.keyword_set_id).join(Tag, Tag.instance_id == Instance.id)
                            .join(Package, Package.id == Instance.package_id).where(Package.name == package_name))
    rename_keyword_set(session, set_id, words)


def read_every_text(table, key, key_column, indexed, text, word, pattern):
    """grams.text_holds without the index: how search read every text before migration 0011."""
    return text.like(pattern, escape="\\")


def compare(registry: TestRegistry, label: str) -> None:
    client = registry.client
    for query_label, query in QUERIES.items():
        indexed, _, found = median_search(client, query)
        holds, grams.text_holds = grams.text_holds, read_every_text
        try:
            scanned, _, found_scanning = median_search(client, query)
        finally:
            grams.text_holds = holds
        assert found == found_scanning, (query_label, found, found_scanning)
        print(f"{label}, {query_label}: indexed {indexed * 1000:,.1f} ms, reading every text {scanned * 1000:,.1f} ms "
              f"({scanned / indexed:,.1f}x; {found} found)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    rng = random.Random(1)
    with database(args.database_url) as (url, _name), tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), database_url=url, secret_key=SECRET, read_cache="off",
                                  database_statement_timeout=0, database_read_timeout=600))
        registry = TestRegistry(app)
        registry.create_user("alice")
        token = registry.token("alice")

        # The names of the scale table's push of 100,000 fragments, as the push indexes them.
        names = keywords.words_of(build_tree(small_files(100_000))[0])
        times = []
        for _ in range(5):
            started = time.perf_counter()
            codes = grams.text_grams(names)
            times.append(time.perf_counter() - started)
        with registry.state.session_factory() as session:
            started = time.perf_counter()
            keywords.keyword_set(session, names)
            with_rows = time.perf_counter() - started
            session.rollback()
        print(f"indexing the names of a push of 100,000 files ({len(names):,} bytes): {len(codes):,} grams, "
              f"computed in {statistics.median(times) * 1000:,.0f} ms (median of 5); keyword_set() with its rows "
              f"{with_rows * 1000:,.0f} ms (rolled back)", flush=True)

        pushed = 0
        for level in LEVELS:
            started = time.perf_counter()
            with registry.state.session_factory() as session:
                for i in range(pushed, level):
                    response, _ = registry.push(token, "alice", f"p{i}", {"README": made_up_readme(rng), f"n{i}": b"x"},
                                                  is_public=True)
                    assert response.status_code == 200, response.get_json()
                    set_names(session, f"p{i}", made_up_names(rng) + (" unique-0" if i == 0 else ""))
                    session.commit()  # before the next push, which indexes its own set
            pushed = level
            print(f"({level:,} packages of 2,000 names and 4 KB of README; added in "
                  f"{time.perf_counter() - started:.1f} s)", flush=True)
            compare(registry, f"{level:>5,} packages")

        with registry.state.session_factory() as session:
            for i in range(WIDE_PACKAGES):
                response, _ = registry.push(token, "alice", f"wide{i}", {"README": b"r", f"w{i}": b"x"}, is_public=True)
                assert response.status_code == 200, response.get_json()
                set_names(session, f"wide{i}", slow_search_names())
                session.commit()
        QUERIES["ten words at the end of 1 MB of names"] = " ".join(LATE_WORDS + ["found-nowhere"])
        compare(registry, f"{LEVELS[-1]:,} packages and {WIDE_PACKAGES} of 1 MB of names")
        app.extensions["registry"].engine.dispose()


if __name__ == "__main__":
    main()

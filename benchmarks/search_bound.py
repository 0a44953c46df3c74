"""What an anonymous search costs as the registry grows, and the bound the database now puts on
it (REGISTRY_DATABASE_STATEMENT_TIMEOUT). Public packages whose node names are as long as a
push may make them (1 MB), 8, 32 and 128 of them, on MariaDB; searched in process (Flask's
test client) for:

- nothing (`q=`): no text compared; the baseline of the run;
- one word found nowhere (since migration 0011 the gram index answers it without reading names);
- ten words, nine of them at the end of every package's names, which begin like each word over
  and over: the worst an anonymous client can ask for (every gram of them is in every set, so
  the index narrows nothing);

each as the database's whole cost (no bound, a long read timeout), as before this bound (the
client's 4 s read timeout only) and with the default bound. Prints the median of 3 (one run
where a search takes over 5 s) and, where the answer came first, how long MariaDB still
worked on the search after it.

    python benchmarks/search_bound.py [--database-url mysql+pymysql://root@127.0.0.1:3306/]

It creates a database `registry_bench_<random>` and drops it at exit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's registry and tests

from registry import Settings, create_app  # noqa: E402 (after the path)
from scale_stack import database, raw_connection  # noqa: E402
from tests.helpers import LATE_WORDS, TestRegistry, rename_every_keyword_set, slow_search_names  # noqa: E402

LEVELS = (8, 32, 128)
QUERIES = {"nothing (baseline)": "", "one word found nowhere": "found-nowhere",
           "ten words, the worst case": " ".join(LATE_WORDS + ["found-nowhere"])}
SECRET = "search-bound-benchmark-secret-key-0123456789"


def timed_search(client, query: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/api/search/", query_string={"q": query})
    return time.perf_counter() - started, response.status_code


def still_running(db) -> bool:
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                       "WHERE INFO LIKE '%keyword_set%' AND ID <> CONNECTION_ID()")
        return cursor.fetchone()[0] > 0


def measure(client, query: str, db) -> tuple[float, set[int], float]:
    """(median seconds, statuses, most seconds MariaDB went on with the search after an answer)."""
    times, statuses, lingered = [], set(), 0.0
    while not times or (times[0] < 5 and len(times) < 3):
        seconds, status = timed_search(client, query)
        answered = time.perf_counter()
        while still_running(db):
            time.sleep(0.05)
        lingered = max(lingered, time.perf_counter() - answered)
        times.append(seconds)
        statuses.add(status)
    return statistics.median(times), statuses, lingered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    names = slow_search_names()
    with database(args.database_url) as (url, _name), tempfile.TemporaryDirectory() as data_dir:
        base = Settings(data_dir=Path(data_dir), database_url=url, secret_key=SECRET, read_cache="off")
        apps = {label: create_app(Settings(**{**base.__dict__, **settings})) for label, settings in (
            ("no bound", {"database_statement_timeout": 0, "database_read_timeout": 600}),
            (f"client's {base.database_read_timeout} s read timeout only (before)", {"database_statement_timeout": 0}),
            (f"statement bound {base.database_statement_timeout} s (now)", {}))}
        registry = TestRegistry(next(iter(apps.values())))
        registry.create_user("alice")
        token = registry.token("alice")
        db = raw_connection(url)
        pushed = 0
        for level in LEVELS:
            for i in range(pushed, level):
                response, _ = registry.push(token, "alice", f"wide{i}", {"README": b"r", f"n{i}": b"x"}, is_public=True)
                assert response.status_code == 200, response.get_json()
            pushed = level
            with registry.state.session_factory() as session:
                rename_every_keyword_set(session, names)
                session.commit()
            for label, query in QUERIES.items():
                for bound, app in apps.items():
                    seconds, statuses, lingered = measure(app.test_client(), query, db)
                    print(f"{level:>4} packages of 1 MB of names, {label}, {bound}: {seconds * 1000:,.0f} ms "
                          f"(HTTP {', '.join(map(str, sorted(statuses)))}; MariaDB went on {lingered:.2f} s after the "
                          "answer)", flush=True)
        db.close()
        for app in apps.values():
            app.extensions["registry"].engine.dispose()


if __name__ == "__main__":
    main()

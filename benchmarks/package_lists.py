"""What the other lists cost as they grow: a public package's tags and versions, its instances,
and an owner's packages, each at 1,000, 10,000 and 50,000 rows, on MariaDB, in process (Flask's
test client). An owner makes each with cheap requests (a tag or a version is one request, a push
of new content one instance, of a new name one package), and anyone may then read the lists of
a public package or of its owner. Prints, for each list, the median time of 3 and the peak of
Python memory (tracemalloc) during one request, next to two baselines of the same run:
`GET /api/tag/alice/<package>/latest` (a read whose cost does not depend on the lists) and the
same rows fetched as raw SQL through PyMySQL (the least it costs to move them out of MariaDB).

    python benchmarks/package_lists.py [--database-url mysql+pymysql://root@127.0.0.1:3306/]

It creates a database `registry_bench_<random>` and drops it at exit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's registry

from registry import Settings, create_app  # noqa: E402 (after the path)
from package_history import LEVELS, SECRET, add_labels, analyze, measured, public_package, report  # noqa: E402
from scale_stack import database, raw_connection  # noqa: E402
from tests.helpers import TestRegistry  # noqa: E402

ROWS_PER_INSERT = 5_000


def raw_seconds(cursor, statement: str, parameters: tuple) -> float:
    """Median of 3: the rows of `statement`, fetched whole through PyMySQL."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        cursor.execute(statement, parameters)
        cursor.fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def add_instances(cursor, package_id: int, start: int, stop: int) -> None:
    """Instances with made-up hashes (their trees are never read by the lists)."""
    for first in range(start, stop, ROWS_PER_INSERT):
        numbers = range(first, min(first + ROWS_PER_INSERT, stop))
        cursor.execute("INSERT INTO instance (package_id, hash, created_at, created_by, updated_at, updated_by) VALUES "
                       + ",".join(f"({package_id},'{n:064x}',NOW(6),'alice',NOW(6),'alice')" for n in numbers))


def add_packages(cursor, start: int, stop: int) -> None:
    """alice's public packages p<start> to p<stop - 1>, each with one instance (a list shows
    only packages that have one)."""
    for first in range(start, stop, ROWS_PER_INSERT):
        numbers = range(first, min(first + ROWS_PER_INSERT, stop))
        cursor.execute("INSERT INTO package (owner, name, folded_handle, created_at) VALUES "
                       + ",".join(f"('alice','p{n}','alice/p{n}',NOW(6))" for n in numbers))
        cursor.execute("INSERT INTO instance (package_id, hash, created_at, created_by, updated_at, updated_by) "
                       "SELECT id, REPEAT('a', 64), NOW(6), 'alice', NOW(6), 'alice' FROM package "
                       "WHERE owner = 'alice' AND name IN (" + ",".join(f"'p{n}'" for n in numbers) + ")")
        cursor.execute("INSERT INTO access (package_id, principal) SELECT id, 'public' FROM package "
                       "WHERE owner = 'alice' AND name IN (" + ",".join(f"'p{n}'" for n in numbers) + ")")


def phase(app, cursor, what: str, grow, tables: str, package: str, lists: dict[str, tuple[str, str, tuple]]) -> None:
    """At each level: grow(stored, level), then time each list of `lists` (label: its path, and
    the raw SQL that fetches its rows) against the GET tag of `package` and that raw SQL."""
    stored = 0
    for level in LEVELS:
        grow(stored, level)
        stored = level
        analyze(cursor, tables)
        tag_seconds, _, _ = measured(app.test_client(), f"/api/tag/alice/{package}/latest")
        print(f"{level:>7,} {what}: baseline GET tag {tag_seconds * 1000:,.1f} ms", flush=True)
        for label, (path, statement, parameters) in lists.items():
            raw = raw_seconds(cursor, statement, parameters)
            figures = measured(app.test_client(), path)
            report(f"{level:>7,} {what}", label, figures, tag_seconds)
            print(f"{'':>{len(f'{level:>7,} {what}')}}  {'':<14} raw SQL fetch of its rows {raw * 1000:,.1f} ms "
                  f"(the list took {figures[0] / raw:,.1f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    with database(args.database_url) as (url, _name), tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), database_url=url, secret_key=SECRET, read_cache="off"))
        registry = TestRegistry(app)
        registry.create_user("alice")
        db = raw_connection(url)
        with db.cursor() as cursor:
            package_id, instance_id = public_package(registry, cursor, "labels", {"data.csv": b"a\n1\n"})
            phase(app, cursor, "tags and versions", lambda start, stop: add_labels(cursor, package_id, instance_id,
                                                                                     start, stop),
                  "tag, version", "labels",
                  {"GET /api/tag/": ("/api/tag/alice/labels/",
                                     "SELECT name, instance_id FROM tag WHERE package_id = %s", (package_id,)),
                   "GET /api/version/": ("/api/version/alice/labels/",
                                         "SELECT version, user_version, instance_id FROM version WHERE package_id = %s",
                                         (package_id,))})
            package_id, _ = public_package(registry, cursor, "instances", {"data.csv": b"b\n2\n"})
            phase(app, cursor, "instances", lambda start, stop: add_instances(cursor, package_id, start + 1, stop),
                  "instance", "instances",
                  {"GET /api/package/O/N/": ("/api/package/alice/instances/",
                                             "SELECT hash FROM instance WHERE package_id = %s", (package_id,))})
            phase(app, cursor, "packages", lambda start, stop: add_packages(cursor, start, stop),
                  "package, instance, access", "labels",
                  {"GET /api/package/O/": ("/api/package/alice/",
                                           "SELECT id, name FROM package WHERE owner = %s", ("alice",)),
                   "user page": ("/user/alice", "SELECT id, name FROM package WHERE owner = %s", ("alice",))})
        db.close()
        app.extensions["registry"].engine.dispose()


if __name__ == "__main__":
    main()

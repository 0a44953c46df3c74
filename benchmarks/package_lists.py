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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's registry

from package_history import LEVELS, add_labels, bench_app, phase, public_package  # noqa: E402 (after the path)

ROWS_PER_INSERT = 5_000


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


def main() -> None:
    with bench_app(__doc__.split("\n\n")[0]) as (app, registry, cursor):
        package_id, instance_id = public_package(registry, cursor, "labels", {"data.csv": b"a\n1\n"})
        phase(app, cursor, "tags and versions", LEVELS,
              lambda start, stop: add_labels(cursor, package_id, instance_id, start, stop), "tag, version", "labels",
              {"GET /api/tag/": ("/api/tag/alice/labels/",
                                 "SELECT name, instance_id FROM tag WHERE package_id = %s", (package_id,)),
               "GET /api/version/": ("/api/version/alice/labels/",
                                     "SELECT version, user_version, instance_id FROM version WHERE package_id = %s",
                                     (package_id,))})
        package_id, _ = public_package(registry, cursor, "instances", {"data.csv": b"b\n2\n"})
        phase(app, cursor, "instances", LEVELS, lambda start, stop: add_instances(cursor, package_id, start + 1, stop),
              "instance", "instances",
              {"GET /api/package/O/N/": ("/api/package/alice/instances/",
                                         "SELECT hash FROM instance WHERE package_id = %s", (package_id,))})
        phase(app, cursor, "packages", LEVELS, lambda start, stop: add_packages(cursor, start, stop),
              "package, instance, access", "labels",
              {"GET /api/package/O/": ("/api/package/alice/",
                                       "SELECT id, name FROM package WHERE owner = %s", ("alice",)),
               "user page": ("/user/alice", "SELECT id, name FROM package WHERE owner = %s", ("alice",))})


if __name__ == "__main__":
    main()

"""What the lists of recently updated packages (the home page, `GET /api/recent_packages/`)
cost as history grows: 2,000 public packages with 50, then 250 instances each (100,000 and
500,000 instances), on MariaDB, in process (Flask's test client), with and without the index
(package_id, updated_at) of migration 0010. Prints the median of 5 of each, and of the query
the registry ran before that migration (a GROUP BY over every instance), as raw SQL.

    python benchmarks/recent_packages.py [--database-url mysql+pymysql://root@127.0.0.1:3306/]

It creates a database `registry_bench_<random>` and drops it at exit.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's registry

from registry import Settings, create_app  # noqa: E402 (after the path)
from scale_stack import database, raw_connection  # noqa: E402

PACKAGES = 2_000
INSTANCES_PER_PACKAGE = (50, 250)
INDEX = "ix_instance_package_id_updated_at"
SECRET = "recent-packages-benchmark-secret-key-0123456789"
ROWS_PER_INSERT = 20_000
# The query before migration 0010, for anonymous callers: the newest instance of each package
# found by reading all of them.
GROUPED = ("SELECT package.id, max(instance.updated_at) AS updated FROM package "
           "JOIN instance ON instance.package_id = package.id WHERE EXISTS (SELECT 1 FROM access "
           "WHERE access.package_id = package.id AND access.principal = 'public') "
           "GROUP BY package.id ORDER BY updated DESC, package.id DESC LIMIT 10")


def add_instances(cursor, package_ids: list[int], count: int) -> None:
    """`count` instances more for each package, updated at random times over the last 12 days."""
    rows = []
    for package_id in package_ids:
        for _ in range(count):
            rows.append(f"({package_id},'{secrets.token_hex(32)}',NOW(6),'alice',"
                        f"NOW(6) - INTERVAL {secrets.randbelow(10 ** 6)} SECOND,'alice')")
            if len(rows) == ROWS_PER_INSERT:
                cursor.execute("INSERT INTO instance (package_id, hash, created_at, created_by, updated_at, updated_by) "
                               "VALUES " + ",".join(rows))
                rows = []
    if rows:
        cursor.execute("INSERT INTO instance (package_id, hash, created_at, created_by, updated_at, updated_by) "
                       "VALUES " + ",".join(rows))


def median_ms(client, path: str) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return statistics.median(times) * 1000


def grouped_ms(cursor) -> float:
    times = []
    for _ in range(5):
        started = time.perf_counter()
        cursor.execute(GROUPED)
        cursor.fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    with database(args.database_url) as (url, _name), tempfile.TemporaryDirectory() as data_dir:
        db = raw_connection(url)
        app = create_app(Settings(data_dir=Path(data_dir), database_url=url, secret_key=SECRET, read_cache="off"))
        client = app.test_client()
        with db.cursor() as cursor:
            cursor.execute("INSERT INTO package (owner, name, folded_handle, created_at) VALUES "
                           + ",".join(f"('alice','p{i}','alice/p{i}',NOW(6))" for i in range(PACKAGES)))
            cursor.execute("INSERT INTO access (package_id, principal) SELECT id, 'public' FROM package")
            cursor.execute("SELECT id FROM package")
            package_ids = [row[0] for row in cursor.fetchall()]
            stored = 0
            for per_package in INSTANCES_PER_PACKAGE:
                add_instances(cursor, package_ids, per_package - stored)
                stored = per_package
                for with_index in (False, True):
                    cursor.execute(f"{'CREATE' if with_index else 'DROP'} INDEX {INDEX}"
                                   + (" ON instance (package_id, updated_at)" if with_index else " ON instance"))
                    cursor.execute("ANALYZE TABLE instance")
                    cursor.fetchall()
                    label = "with the index" if with_index else "without it"
                    print(f"{PACKAGES:,} packages, {PACKAGES * per_package:,} instances, {label}: "
                          f"GET /api/recent_packages/ {median_ms(client, '/api/recent_packages/'):,.0f} ms, "
                          f"home page {median_ms(client, '/'):,.0f} ms; the query before 0010 (raw SQL) "
                          f"{grouped_ms(cursor):,.0f} ms", flush=True)
        db.close()
        app.extensions["registry"].engine.dispose()


if __name__ == "__main__":
    main()

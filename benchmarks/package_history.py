"""What reading a package's history costs as it grows: one public package whose log holds
1,000, then 10,000, then 50,000 pushes (each with a message of MESSAGE_CHARS characters, the
most a push may carry), on MariaDB, in process (Flask's test client); then another whose tags
and versions grow to as many. Every push, even of an instance already pushed, adds a log row,
and every tag and version is one request, so an owner can grow a public package's lists with
cheap requests and anyone may then read them. Prints, for the package page and `GET /api/log/`,
the median time of 3 and the peak of Python memory (tracemalloc) during one request, next to
two baselines of the same run: `GET /api/tag/alice/history/latest` (a read whose cost does not
depend on the log) and the package's log rows fetched as raw SQL through PyMySQL (the least it
costs to move them out of MariaDB). Last, a third package gets 10,000, 100,000 and 500,000
events (every install adds one), and its weekly counts (`GET /api/package_timeseries/`) are
timed against the same tag GET.

    python benchmarks/package_history.py [--database-url mysql+pymysql://root@127.0.0.1:3306/]

It creates a database `registry_bench_<random>` and drops it at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's registry

from registry import Settings, create_app  # noqa: E402 (after the path)
from registry.version_order import sort_key  # noqa: E402
from scale_stack import database, raw_connection  # noqa: E402
from tests.helpers import TestRegistry  # noqa: E402

LEVELS = (1_000, 10_000, 50_000)
EVENT_LEVELS = (10_000, 100_000, 500_000)
MESSAGE_CHARS = 10_000  # schemas.packages.MAX_MESSAGE_LENGTH
ROWS_PER_INSERT = 500
SECRET = "package-history-benchmark-secret-key-0123456789"


def add_log_rows(cursor, package_id: int, instance_id: int, count: int) -> None:
    message = "m" * MESSAGE_CHARS
    for start in range(0, count, ROWS_PER_INSERT):
        rows = min(ROWS_PER_INSERT, count - start)
        cursor.execute("INSERT INTO log (package_id, instance_id, created_at, author, message) VALUES "
                       + ",".join(["(%s, %s, NOW(6), 'alice', %s)"] * rows),
                       [value for _ in range(rows) for value in (package_id, instance_id, message)])


def add_labels(cursor, package_id: int, instance_id: int, start: int, stop: int) -> None:
    """Tags t<start> to t<stop - 1> and versions 1.<start> to 1.<stop - 1>, all on one instance."""
    for first in range(start, stop, ROWS_PER_INSERT * 10):
        numbers = range(first, min(first + ROWS_PER_INSERT * 10, stop))
        cursor.execute("INSERT INTO tag (package_id, name, instance_id, updated_at, updated_by) VALUES "
                       + ",".join(f"({package_id},'t{n}',{instance_id},NOW(6),'alice')" for n in numbers))
        cursor.execute("INSERT INTO version (package_id, version, user_version, sort_key, instance_id, created_at, "
                       "created_by) VALUES " + ",".join(f"({package_id},'1.{n}','1.{n}',%s,{instance_id},NOW(6),'alice')"
                                                        for n in numbers), [sort_key(f"1.{n}") for n in numbers])


def add_events(cursor, name: str, start: int, stop: int) -> None:
    """Events of alice/<name> over the last 700 days, installs and previews in turn (an install
    or a preview of a public package is one anonymous request each)."""
    for first in range(start, stop, ROWS_PER_INSERT * 20):
        numbers = range(first, min(first + ROWS_PER_INSERT * 20, stop))
        cursor.execute("INSERT INTO event (created_at, type, package_owner, package_name) VALUES " + ",".join(
            f"(NOW(6) - INTERVAL {n % 700} DAY, '{('INSTALL', 'PREVIEW')[n % 2]}', 'alice', '{name}')"
            for n in numbers))


def raw_seconds(cursor, statement: str, parameters: tuple) -> float:
    """Median of 3: the rows of `statement`, fetched whole through PyMySQL."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        cursor.execute(statement, parameters)
        cursor.fetchall()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measured(client, path: str) -> tuple[float, float | None, int]:
    """Median seconds of 3 GETs, the peak MiB of Python memory during one, and the body's bytes;
    for an answer other than 200: the seconds it took, None and the status. The body is taken
    piece by piece as a server sends it (the test client would join it)."""
    def get() -> tuple[int, int]:
        response = client.get(path, buffered=False)
        try:
            return response.status_code, sum(len(piece) for piece in response.response)
        finally:
            response.close()

    times = []
    for _ in range(3):
        started = time.perf_counter()
        status, _ = get()
        times.append(time.perf_counter() - started)
        if status != 200:
            return times[-1], None, status
    tracemalloc.start()
    _, size = get()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 2 ** 20, size


def public_package(registry: TestRegistry, cursor, name: str, files: dict[str, bytes]) -> tuple[int, int]:
    """alice's public package `name` pushed with `files`: its id and its instance's."""
    pushed, top_hash = registry.push(registry.token("alice"), "alice", name, files, is_public=True)
    assert pushed.status_code == 200, pushed.get_json()
    cursor.execute("SELECT package_id, id FROM instance WHERE hash = %s", (top_hash,))
    return cursor.fetchone()


def analyze(cursor, tables: str) -> None:
    cursor.execute(f"ANALYZE TABLE {tables}")
    cursor.fetchall()


def report(what: str, label: str, figures: tuple[float, float | None, int], baseline: float) -> None:
    """One line of `measured`'s figures, or the status of an answer other than 200."""
    seconds, peak, size = figures
    if peak is None:
        print(f"{what}, {label:<14} answered {size} after {seconds * 1000:,.0f} ms", flush=True)
        return
    print(f"{what}, {label:<14} {seconds * 1000:9,.0f} ms ({seconds / baseline:6,.1f}x its baseline), "
          f"Python memory peak {peak:8,.1f} MiB, body {size / 2 ** 20:8,.1f} MiB", flush=True)


def phase(app, cursor, what: str, levels: tuple[int, ...], grow, tables: str, package: str,
          lists: dict[str, tuple[str, str | None, tuple]]) -> None:
    """At each level: grow(stored, level), then time each page or list of `lists` (label: its
    path, and the raw SQL that fetches its rows, or None) against the GET tag of `package`, and
    against that raw SQL."""
    stored = 0
    for level in levels:
        grow(stored, level)
        stored = level
        analyze(cursor, tables)
        tag_seconds, _, _ = measured(app.test_client(), f"/api/tag/alice/{package}/latest")
        print(f"{level:>7,} {what}: baseline GET tag {tag_seconds * 1000:,.1f} ms", flush=True)
        for label, (path, statement, parameters) in lists.items():
            raw = statement and raw_seconds(cursor, statement, parameters)
            figures = measured(app.test_client(), path)
            report(f"{level:>7,} {what}", label, figures, tag_seconds)
            if raw:
                print(f"{'':>{len(f'{level:>7,} {what}')}}  {'':<14} raw SQL fetch of its rows {raw * 1000:,.1f} ms "
                      f"(the list took {figures[0] / raw:,.1f}x)", flush=True)


@contextlib.contextmanager
def bench_app(description: str):
    """(app, registry, cursor) on a new MariaDB database (dropped at exit) with the user alice;
    `--database-url` from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    with database(args.database_url) as (url, _name), tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=Path(data_dir), database_url=url, secret_key=SECRET, read_cache="off"))
        registry = TestRegistry(app)
        registry.create_user("alice")
        db = raw_connection(url)
        try:
            with db.cursor() as cursor:
                yield app, registry, cursor
        finally:
            db.close()
            app.extensions["registry"].engine.dispose()


def main() -> None:
    with bench_app(__doc__.split("\n\n")[0]) as (app, registry, cursor):
        package_id, instance_id = public_package(registry, cursor, "history",
                                                 {"README.md": b"# History\n", "data.csv": b"a,b\n1,2\n"})
        stored = 1
        for level in LEVELS:
            add_log_rows(cursor, package_id, instance_id, level - stored)
            stored = level
            analyze(cursor, "log")
            tag_seconds, _, _ = measured(app.test_client(), "/api/tag/alice/history/latest")
            raw = raw_seconds(cursor, "SELECT id, instance_id, created_at, author, message FROM log "
                                      "WHERE package_id = %s", (package_id,))
            print(f"{level:>7,} pushes: baselines GET tag {tag_seconds * 1000:,.1f} ms, "
                  f"raw SQL fetch of the log rows {raw * 1000:,.0f} ms", flush=True)
            report(f"{level:>7,} pushes", "package page", measured(app.test_client(), "/package/alice/history"),
                   tag_seconds)
            report(f"{level:>7,} pushes", "GET /api/log/", measured(app.test_client(), "/api/log/alice/history/"), raw)
        package_id, instance_id = public_package(registry, cursor, "labels", {"data.csv": b"a\n1\n"})
        phase(app, cursor, "tags and versions", LEVELS,
              lambda start, stop: add_labels(cursor, package_id, instance_id, start, stop), "tag, version", "labels",
              {"package page": ("/package/alice/labels", None, ())})
        public_package(registry, cursor, "popular", {"data.csv": b"p\n1\n"})
        phase(app, cursor, "events", EVENT_LEVELS, lambda start, stop: add_events(cursor, "popular", start, stop),
              "event", "popular", {"timeseries": ("/api/package_timeseries/alice/popular/install", None, ())})


if __name__ == "__main__":
    main()

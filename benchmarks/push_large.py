"""Push and install one package of N fragments through the API (Flask's test client), and compare
the push's database work with a naive ORM baseline measured in the same run, on the same database.
See benchmarks/README.md. Temporary data (folder, SQLite file or MySQL database) is always removed.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gzip
import hashlib
import io
import json
import pstats
import secrets
import signal
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.helpers

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from registry import Settings, create_app, migrate
from registry.db import make_engine, utcnow
from registry.models import Blob, Instance, InstanceBlob, Package
from registry.services import blobs
from tests.helpers import TestRegistry, build_tree

OWNER, NAME, SUBPATH = "alice", "big", "d0"


class Bench:
    """Timed steps; SQL statements counted with a before_cursor_execute listener (as test_bulk.py)."""

    def __init__(self, engine, profile: bool):
        self.statements, self.rows, self.profile = 0, [], profile
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_):
        self.statements += 1

    @contextlib.contextmanager
    def step(self, name: str, n: int, note: str = ""):
        row = {"step": name, "n": n, "note": note}
        profiler = cProfile.Profile() if self.profile else None
        statements, start = self.statements, time.perf_counter()
        with profiler or contextlib.nullcontext():
            yield row  # the step may fill in row["n"] and row["note"]
        row.update(seconds=time.perf_counter() - start, statements=self.statements - statements)
        self.rows.append(row)
        if profiler:
            print(f"\n--- profile: {name} (top 12 by own time) ---")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


@contextlib.contextmanager
def database(server_url: str | None, folder: Path):
    """A migrated, empty database: a SQLite file in `folder`, or a new MySQL database dropped at exit."""
    if not server_url:
        url = f"sqlite:///{folder / 'registry.db'}"
        _migrate(url)
        yield url
        return
    server = make_url(server_url)
    name = f"registry_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database=""))
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        _migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def _migrate(url: str) -> None:
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()


def fresh_instance(session: Session, name: str) -> int:
    """An empty package and instance for the database-work comparison (not timed)."""
    package = Package(owner=OWNER, name=name, folded_handle=f"{OWNER}/{name.lower()}")
    session.add(package)
    session.flush()
    now = utcnow()
    instance = Instance(package_id=package.id, hash=hashlib.sha256(name.encode()).hexdigest(), contents=b"",
                        created_at=now, created_by=OWNER, updated_at=now, updated_by=OWNER)
    session.add(instance)
    session.commit()
    return instance.id


def fake_sizes(label: str, n: int) -> dict[str, int]:
    return {hashlib.sha256(f"{label} {i}".encode()).hexdigest(): 10 + i % 7 for i in range(n)}


def naive_link_blobs(session: Session, instance_id: int, owner: str, sizes: dict[str, int]) -> None:
    """The anti-pattern the project avoids: one ORM object per row, a flush (a round trip) after each."""
    for hash_, size in sizes.items():
        blob = Blob(owner=owner, hash=hash_, size=size)
        session.add(blob)
        session.flush()
        session.add(InstanceBlob(instance_id=instance_id, blob_id=blob.id))
        session.flush()


def run(registry: TestRegistry, bench: Bench, n: int, baseline_n: int) -> None:
    registry.create_user(OWNER)
    token = registry.token(OWNER)
    contents, data = build_tree({f"d{i // 1000}/f{i}": f"fragment {i}".encode() for i in range(n)})
    top_hash = registry.tophash(contents)
    started = time.perf_counter()
    store = registry.state.store  # write() fsyncs each file: threads overlap the waits
    pool = ThreadPoolExecutor(16)
    try:
        list(pool.map(lambda item: store.write(OWNER, item[0], io.BytesIO(item[1])), data.items()))
    finally:
        pool.shutdown(cancel_futures=True)  # on SIGTERM or Ctrl-C, stop writing and clean up
    print(f"setup: wrote {len(data)} fragments to the local store in {time.perf_counter() - started:.1f} s")
    path = f"/api/package/{OWNER}/{NAME}/{top_hash}"
    body = {"description": "", "is_public": False, "is_team": False, "contents": contents}

    def put(dry_run: bool, sizes: dict):
        raw = json.dumps({**body, "dry_run": dry_run, "sizes": sizes}).encode()
        packed = gzip.compress(raw, compresslevel=6)
        return f"body {len(packed) / 1e6:.1f} MB gzip ({len(raw) / 1e6:.1f} MB JSON)", packed

    def call(method: str, url: str, packed: bytes | None = None):
        headers = {"Content-Encoding": "gzip"} if packed else {}
        response = registry.api(method, url, token=token, data=packed, headers=headers)
        assert response.status_code == 200, (url, response.status_code, response.get_data()[:500])
        return response

    note, packed = put(True, {})
    with bench.step("1. dry run (upload URLs)", n) as row:
        response = call("PUT", path, packed)
        row["note"] = f"response {len(response.get_data()) / 1e6:.1f} MB; {note}"
    assert len(response.get_json()["upload_urls"]) == n
    note, packed = put(False, {d: len(p) for d, p in data.items()})
    with bench.step("2. real push", n, note):
        call("PUT", path, packed)
    with bench.step("3. install, whole package", n) as row:
        response = call("GET", f"{path}?subpath=&meta_only=")
        row["note"] = f"response {len(response.get_data()) / 1e6:.1f} MB"
    assert len(response.get_json()["sizes"]) == n
    with bench.step(f"4. install, subpath {SUBPATH}/", 0) as row:
        response = call("GET", f"{path}?subpath={SUBPATH}&meta_only=")
        row["n"] = len(response.get_json()["sizes"])

    # The push's database work (blob rows, links, commit) on a fresh package: baseline, then ours.
    bench.profile = False
    def ours(session, instance_id, owner, sizes):
        # What a real push does: one lookup of the owner's known fragments, then bulk rows and links.
        blobs.link_blobs(session, instance_id, owner, sizes, blobs.known_sizes(session, owner, sizes))

    for step, count, link in (("5. db work: naive ORM, flush per row", baseline_n, naive_link_blobs),
                              ("6. db work: ours (blobs.link_blobs)", n, ours)):
        with registry.state.session_factory() as session:
            instance_id = fresh_instance(session, link.__name__)
            sizes = fake_sizes(link.__name__, count)
            with bench.step(step, count):
                link(session, instance_id, OWNER, sizes)
                session.commit()
            linked = select(func.count()).select_from(InstanceBlob).where(InstanceBlob.instance_id == instance_id)
            assert session.scalar(linked) == count


def report(bench: Bench, n: int, baseline_n: int) -> None:
    rows = bench.rows
    baseline, ours = rows[-2], rows[-1]
    if baseline_n != n:
        scale = n / baseline_n
        rows.insert(-1, {"step": f"   ... extrapolated x{scale:g} (linear)", "n": n,
                         "seconds": baseline["seconds"] * scale, "statements": round(baseline["statements"] * scale),
                         "note": f"ESTIMATE from the {baseline_n}-fragment run above"})
    print(f"\n{'step':<40} {'N':>7} {'seconds':>9} {'statements':>10} {'fragments/s':>12}  note")
    for row in rows:
        rate = row["n"] / row["seconds"] if row["seconds"] else float("inf")
        print(f"{row['step']:<40} {row['n']:>7} {row['seconds']:>9.3f} {row['statements']:>10} {rate:>12,.0f}  "
              f"{row.get('note', '')}")
    ratio = (baseline["seconds"] / baseline["n"]) / (ours["seconds"] / ours["n"])
    measured = "" if baseline_n == n else f" (baseline measured on {baseline_n} fragments, per-fragment rate)"
    print(f"\npush database work, baseline / ours: {ratio:.1f}x{measured}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fragments", type=int, default=100_000, help="N, fragments in the package")
    parser.add_argument("--database-url", default="",
                        help="a MySQL/MariaDB server, e.g. mysql+pymysql://root@127.0.0.1:3306/ (default: temporary SQLite)")
    parser.add_argument("--baseline-fragments", type=int, default=0,
                        help="fragments for the naive baseline (default N/10, extrapolated linearly; N to measure it fully)")
    parser.add_argument("--profile", action="store_true", help="cProfile steps 1-4 and print the top entries (slows them)")
    args = parser.parse_args()
    n, baseline_n = args.fragments, args.baseline_fragments or max(1, args.fragments // 10)
    # SIGTERM becomes an exception, so the cleanup below runs on it too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))
    with tempfile.TemporaryDirectory(prefix="registry-bench-") as tmp, database(args.database_url, Path(tmp)) as url:
        app = create_app(Settings(data_dir=Path(tmp) / "data", database_url=url, secret_key=secrets.token_urlsafe(48)))
        engine = app.extensions["registry"].engine
        print(f"database: {engine.dialect.name} {engine.url.render_as_string(hide_password=True)}")
        try:
            bench = Bench(engine, args.profile)
            run(TestRegistry(app), bench, n, baseline_n)
            report(bench, n, baseline_n)
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()

"""The whole "Scale" table in one run: a live registry (`registry serve --workers 4`, gunicorn) on
MariaDB and SeaweedFS, driven over raw HTTP the way the quilt client speaks it. Prints each figure
next to the original registry's, the speed-up and the goal, then one summary table (markdown).
See benchmarks/README.md. Everything it starts is stopped and its database dropped at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.support and tests.helpers; and this checkout's registry

import pymysql
import requests
from botocore.credentials import Credentials
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry import Settings, create_app, migrate
from registry.cli.serve import gunicorn_command
from registry.db import make_engine, make_session_factory, utcnow
from registry.models import Instance, Package
from registry.services import blobs, fragment_sets, trees
from registry.storage.sigv4 import PresignerV4
from registry.tree import tophash
from tests.helpers import TestRegistry, build_tree
from tests.support.live_server import START_TIMEOUT, LiveRegistry, free_port
from tests.support.seaweedfs import SeaweedFS

OWNER = "alice"  # owns the table's packages and H history objects
HISTORY_OWNER = "bob"  # the history-independence pushes: their own owner, history grown 0 -> 50k -> 500k
BUCKET = "registry"
WORKERS, THREADS = 4, 8  # registry serve --workers 4 (its default threads: 8)
UPLOAD_THREADS = 32
SEED_THREADS = 32
LOOP_THREADS = 8
HTTP_TIMEOUT = 600
GIB = 1024 ** 3
STOP = threading.Event()  # set on Ctrl-C / SIGTERM: worker threads stop at their next item

# The original registry's figures and ours before this work, for the same table.
ORIGINAL = {10_000: {"dry": 8.63, "put": 7.69, "install": 4.36, "loop": 0.5},
            100_000: {"dry": 76.7, "put": 68.6, "install": 49.4, "loop": 0.04}}
PREVIOUS = {10_000: {"dry": 0.70, "put": 3.34, "install": 0.44, "loop": 4.2},
            100_000: {"dry": 10.0, "put": 37.8, "install": 4.55, "loop": 0.4}}
TABLE_GOALS = {100_000: {"dry": ("< 3.8 s", lambda v: v < 3.8), "put": ("< 3.4 s", lambda v: v < 3.4),
                         "install": ("< 2.5 s", lambda v: v < 2.5), "rss": ("< 1 GiB", lambda v: v < GIB)}}
TABLE_FIGURES = (("dry", "dry-run PUT", "s"), ("put", "real PUT", "s"), ("install", "install GET", "s"),
                 ("loop", f"install GET loop, {LOOP_THREADS} threads", "req/s"),
                 ("rss", "peak worker RSS during the push", "bytes"))
READS_ORIGINAL = {"tag": 205.0, "obj10": 107.5, "obj1000": 4.2}
HISTORY_GOAL = 1.2
INCREMENTAL_GOAL = 0.10
COMMITDB_GOAL = 2.0
INSTALLJSON_GOAL = 3.0
READS_BARE_GOAL = 0.5
READS_OBJ1000_GOAL = 42.0
SECTIONS = ("table", "history", "incremental", "commitdb", "reads", "installjson")


# -- output ------------------------------------------------------------------------------------

def seconds(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def rate(value: float) -> str:
    return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"


def mib(value: float) -> str:
    return f"{value / 1024 ** 2:,.1f} MiB" if abs(value) < 100 * 1024 ** 2 else f"{value / 1024 ** 2:,.0f} MiB"


def ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def table(headers: list[str], rows: list[list]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join(" --- " for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()


def heading(title: str) -> None:
    print(f"\n### {title}\n", flush=True)


@dataclasses.dataclass
class Summary:
    rows: list[list] = dataclasses.field(default_factory=list)

    def add(self, section: str, figure: str, ours: str, goal: str = "—", ok: bool | None = None,
            original: str = "—") -> None:
        result = "—" if ok is None else "PASS" if ok else "MISS"
        self.rows.append([section, figure, ours, original, goal, result])

    def error(self, section: str, exc: BaseException) -> None:
        self.rows.append([section, f"(section failed: {type(exc).__name__}: {' '.join(str(exc).split())[:120]})", "—", "—", "—", "MISS"])

    def print(self) -> None:
        heading("Summary")
        table(["section", "figure", "ours", "original", "goal", "result"], self.rows)
        results = [row[-1] for row in self.rows]
        print(f"{results.count('PASS')} PASS, {results.count('MISS')} MISS, {results.count('—')} without a goal")


# -- threads that stop on Ctrl-C ------------------------------------------------------------------

def run_threads(count: int, work: Callable[[int], object]) -> list:
    """`work(i)` for i in range(count), each in its own thread; results in order. A failure in one
    stops the others (at their next item, via STOP) and is raised here, as is Ctrl-C."""
    results, errors = [None] * count, []

    def body(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            errors.append(exc)
            STOP.set()

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except BaseException:
        STOP.set()
        raise
    if errors:
        raise errors[0]
    return results


def parallel(items: list, work: Callable, threads: int) -> None:
    """`work(item, state)` for every item, spread over `threads` threads; `state` is a dict per thread."""
    def share(i: int) -> None:
        state: dict = {}
        for item in items[i::threads]:
            if STOP.is_set():
                raise RuntimeError("stopped")
            work(item, state)

    run_threads(min(threads, max(1, len(items))), share)


# -- fragments -------------------------------------------------------------------------------------

def small_files(n: int, prefix: str = "g") -> dict[str, bytes]:
    """n fresh fragments of 8 to 100 random bytes (shorter ones could not all be unique), in 100
    groups of n/100 files."""
    groups = min(100, n)
    return {f"{prefix}{i * groups // n}/f{i}": os.urandom(8 + i % 93) for i in range(n)}


def kib_files(n: int) -> dict[str, bytes]:
    groups = min(100, n)
    return {f"g{i * groups // n}/f{i}": os.urandom(1024) for i in range(n)}


# -- the services: database, S3, registry ---------------------------------------------------------

class Server(LiveRegistry):
    """`registry serve` with --workers 4 (LiveRegistry, the tests' one, starts 2)."""

    def start(self) -> "Server":
        command = [sys.executable, "-m", "registry", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", str(WORKERS), "--threads", str(THREADS)]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        try:
            self._wait_until_healthy()
            wait_for_workers(self.process.pid, WORKERS)
            return self
        except BaseException:
            self.stop()
            raise


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def wait_for_workers(master: int, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while len(children(master)) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)  # each worker imports the app after it is forked


def proc_status(pid: int) -> dict[str, int]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return values


class RssSampler:
    """Every 50 ms, VmRSS of each gunicorn worker (the master's children); the max across workers."""

    def __init__(self, master: int):
        self.master, self.peak, self.hwm = master, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in children(self.master):
                self.peak = max(self.peak, proc_status(pid).get("VmRSS", 0))
            self._stop.wait(0.05)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm = max((proc_status(pid).get("VmHWM", 0) for pid in children(self.master)), default=0)


def stop_process_group(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def database(server_url: str):
    """A new, migrated database `registry_bench_<random>` on the server; dropped at exit."""
    server = make_url(server_url)
    name = f"registry_bench_{secrets.token_hex(4)}"
    admin = create_engine(server.set(database=""))
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
        finally:
            engine.dispose()
        yield url, name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


def raw_connection(url: str) -> pymysql.connections.Connection:
    parts = make_url(url)
    return pymysql.connect(host=parts.host or "127.0.0.1", port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "", database=parts.database, charset="utf8mb4",
                           autocommit=True)


class Bench:
    def __init__(self, args, tmp: Path, stack: contextlib.ExitStack):
        self.args, self.tmp, self.stack = args, tmp, stack
        self.summary = Summary()
        self.served: dict[str, int] = {}  # install GETs answered 200, per package name
        self.inflight: dict[str, int] = {}  # wrk connections cut at the end (may or may not have been served)
        self.fresh: dict[int, dict] = {}  # the table's fresh pushes, by N (reused by incremental, installjson)
        self.local = threading.local()

    # setup

    def start(self) -> None:
        args, tmp, stack = self.args, self.tmp, self.stack
        started = time.perf_counter()
        self.url, self.schema = stack.enter_context(database(args.database_url))
        self.s3 = SeaweedFS(tmp / "seaweedfs")
        stack.callback(self.s3.stop)
        self.s3.start()
        self.s3.client().create_bucket(Bucket=BUCKET)
        # Seeding PUTs presigned URLs over http.client: boto3's put_object managed ~400 objects/s
        # here (its own CPU the limit), this ~1,600.
        credentials = Credentials(self.s3.access_key, self.s3.secret_key).get_frozen_credentials()
        self.presigner = PresignerV4(self.s3.endpoint_url, self.s3.region, lambda: credentials, 86400)
        # REGISTRY_* variables of the caller's environment still apply (a longer timeout, say).
        self.settings = Settings.from_env(
            os.environ, data_dir=tmp / "data", database_url=self.url, secret_key=secrets.token_urlsafe(48),
            storage="s3", s3_bucket=BUCKET, s3_endpoint_url=self.s3.endpoint_url, s3_region=self.s3.region,
            s3_access_key_id=self.s3.access_key, s3_secret_access_key=self.s3.secret_key,
            s3_signed_checksums=True, access_token_seconds=7 * 86400)  # a long run outlives the 1 h default
        app = create_app(self.settings)
        self.engine = app.extensions["registry"].engine
        stack.callback(self.engine.dispose)
        helper = TestRegistry(app)
        self.tokens = {}
        for name in (OWNER, HISTORY_OWNER):
            helper.create_user(name)
            self.tokens[name] = helper.token(name)
        self.db = raw_connection(self.url)
        stack.callback(self.db.close)
        # The servers run this checkout's registry too, whatever the current directory.
        self.server = Server(self.settings, tmp / "server.log", extra_env={"PYTHONPATH": str(ROOT)})
        stack.callback(self.server.stop)
        self.server.start()
        self.base = self.server.url
        print(f"setup: database {self.schema} on {make_url(args.database_url).render_as_string(hide_password=True)}, "
              f"SeaweedFS {self.s3.endpoint_url} (signatures checked, signed checksums on), "
              f"registry serve --workers {WORKERS} --threads {THREADS} at {self.base} "
              f"({time.perf_counter() - started:.1f} s)", flush=True)

    # HTTP, as the quilt client speaks it

    def session(self) -> requests.Session:
        if not hasattr(self.local, "session"):
            self.local.session = requests.Session()
        return self.local.session

    def headers(self, owner: str, gzipped: bool = False) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.tokens[owner]}"}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return headers

    def push(self, owner: str, name: str, files: dict[str, bytes], *, upload: set[str] | None = None,
             public: bool = False) -> dict:
        """Dry run, upload (not timed) of the fragments in `upload` (default: all), real push. The
        bodies are gzipped JSON as quilt 2.9.15 sends them; only the requests are timed."""
        contents, data = build_tree(files)
        top_hash = tophash(contents)
        url = f"{self.base}/api/package/{owner}/{name}/{top_hash}"
        body = {"dry_run": True, "is_public": public, "is_team": False, "description": "", "contents": contents,
                "sizes": {}}
        packed = gzip.compress(json.dumps(body).encode())
        headers = self.headers(owner, gzipped=True)
        started = time.perf_counter()
        response = self.session().put(url, data=packed, headers=headers, timeout=HTTP_TIMEOUT)
        dry = time.perf_counter() - started
        check(response, "dry run")
        urls = response.json()["upload_urls"]
        assert set(urls) == set(data), "upload_urls must name every fragment"
        wanted = sorted(set(data) if upload is None else upload)
        started = time.perf_counter()
        self.upload([(urls[h]["put"], data[h]) for h in wanted])
        uploaded = time.perf_counter() - started
        body.update(dry_run=False, sizes={h: len(b) for h, b in data.items()})
        packed = gzip.compress(json.dumps(body).encode())
        started = time.perf_counter()
        response = self.session().put(url, data=packed, headers=headers, timeout=HTTP_TIMEOUT)
        put = time.perf_counter() - started
        check(response, "push")
        return {"name": name, "top_hash": top_hash, "files": files, "dry": dry, "put": put, "upload": uploaded,
                "uploaded": len(wanted)}

    def upload(self, items: list[tuple[str, bytes]]) -> None:
        """PUT each fragment to its presigned URL, exactly as signed (no extra headers), 32 at once."""
        parallel(items, lambda item, state: http_put(state, *item), UPLOAD_THREADS)

    def install_url(self, owner: str, name: str, top_hash: str) -> str:
        return f"{self.base}/api/package/{owner}/{name}/{top_hash}?subpath=&meta_only="

    def install(self, owner: str, name: str, top_hash: str, *, counted: bool = True) -> tuple[float, requests.Response]:
        started = time.perf_counter()
        response = self.session().get(self.install_url(owner, name, top_hash), headers=self.headers(owner),
                                      timeout=HTTP_TIMEOUT)
        elapsed = time.perf_counter() - started
        check(response, "install")
        if counted:  # for the check of install events
            self.served[name] = self.served.get(name, 0) + 1
        return elapsed, response

    def install_loop(self, owner: str, name: str, top_hash: str, duration: float) -> float:
        """LOOP_THREADS threads GET the install repeatedly for `duration` s; requests per second
        (a request started before the deadline is waited for and counted)."""
        url, headers = self.install_url(owner, name, top_hash), self.headers(owner)
        deadline = time.perf_counter() + duration
        started = time.perf_counter()

        def loop(_i: int) -> int:
            session, done = requests.Session(), 0
            while time.perf_counter() < deadline and not STOP.is_set():
                check(session.get(url, headers=headers, timeout=HTTP_TIMEOUT), "install loop")
                done += 1
            return done

        count = sum(run_threads(LOOP_THREADS, loop))
        self.served[name] = self.served.get(name, 0) + count
        return count / (time.perf_counter() - started)

    # storage and database helpers

    def seed(self, owner: str, count: int) -> float:
        """`count` random 1 KiB objects at objs/OWNER/<sha256> (32 threads), their blob rows
        (one raw bulk INSERT) and one instance of OWNER/history linking them. Returns seconds."""
        if count <= 0:
            return 0.0
        started = time.perf_counter()
        per_thread = [count // SEED_THREADS + (1 if i < count % SEED_THREADS else 0) for i in range(SEED_THREADS)]

        def write(i: int) -> list[str]:
            hashes, state = [], {}
            for _ in range(per_thread[i]):
                if STOP.is_set():
                    raise RuntimeError("stopped")
                data = os.urandom(1024)
                digest = hashlib.sha256(data).hexdigest()
                http_put(state, self.presigner.presign("PUT", BUCKET, f"objs/{owner}/{digest}"), data)
                hashes.append(digest)
            return hashes

        hashes = [h for part in run_threads(SEED_THREADS, write) for h in part]
        stored = time.perf_counter() - started
        now = utcnow()
        with self.db.cursor() as cursor:
            cursor.execute("SELECT COALESCE(MAX(id), 0) FROM `blob`")
            (first,) = cursor.fetchone()
            self.db.begin()
            cursor.executemany("INSERT INTO `blob` (owner, hash, size, created_at, touched_at) VALUES (%s, %s, %s, %s, %s)",
                               [(owner, h, 1024, now, now) for h in hashes])
            self.db.commit()
            linked = link_history(self.engine, owner, first, now)
            self.db.commit()
        elapsed = time.perf_counter() - started
        print(f"seeded {count:,} objects of {owner} in {elapsed:.1f} s ({count / stored:,.0f} objects/s into S3, "
              f"rows {elapsed - stored:.1f} s; {linked})", flush=True)
        return elapsed

    def stored(self, owner: str) -> int:
        with self.db.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM `blob` WHERE owner = %s", (owner,))
            return cursor.fetchone()[0]

    def footprint(self) -> dict[str, tuple[int, int]]:
        """Exact rows (COUNT(*)) and InnoDB bytes (data_length + index_length after ANALYZE TABLE)
        of every table."""
        with self.db.cursor() as cursor:
            cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                           "AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'scratch%%'", (self.schema,))
            tables = sorted(row[0] for row in cursor.fetchall())
            cursor.execute("ANALYZE TABLE " + ", ".join(f"`{t}`" for t in tables))
            cursor.fetchall()
            cursor.execute("SELECT table_name, data_length + index_length FROM information_schema.tables "
                           "WHERE table_schema = %s", (self.schema,))
            sizes = dict(cursor.fetchall())
            result = {}
            for name in tables:
                cursor.execute(f"SELECT COUNT(*) FROM `{name}`")
                result[name] = (cursor.fetchone()[0], int(sizes.get(name) or 0))
            return result

    def measured_push(self, owner: str, name: str, files: dict[str, bytes], **kwargs) -> dict:
        """A push with the database rows and bytes it added and the workers' peak memory."""
        before = self.footprint()
        with RssSampler(self.server.process.pid) as rss:
            result = self.push(owner, name, files, **kwargs)
        after = self.footprint()
        delta = {t: (after[t][0] - before.get(t, (0, 0))[0], after[t][1] - before.get(t, (0, 0))[1]) for t in after}
        result.update(rss=rss.peak, hwm=rss.hwm, rows=sum(r for r, _ in delta.values()),
                      bytes=sum(b for _, b in delta.values()), delta=delta)
        return result

    def warm_up(self) -> None:
        """A few small pushes and installs, at once on fresh connections, so that every worker has
        served a request (S3 client, SQL compilation caches) before anything is timed."""
        def warm(i: int) -> None:
            result = self.push(OWNER, f"warmup{i}", small_files(10))
            self.install(OWNER, result["name"], result["top_hash"], counted=False)

        run_threads(2 * WORKERS, warm)

    def fresh_push(self, n: int) -> dict:
        """The table's fresh push of n fragments, or one made now for a section run on its own."""
        if n not in self.fresh:
            print(f"(pushing a fresh package of {n:,} fragments for this section)", flush=True)
            self.fresh[n] = self.measured_push(OWNER, f"fresh{n}", small_files(n))
        return self.fresh[n]


def http_put(state: dict, url: str, data: bytes) -> None:
    """PUT `data` to a presigned URL on this thread's keep-alive connection (`state`), as signed:
    no headers but Host and Content-Length. One retry on a fresh connection if the old one was closed."""
    parts = urlsplit(url)
    for attempt in (1, 2):
        connection = state.get(parts.netloc)
        if connection is None:
            connection = state[parts.netloc] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            connection.request("PUT", f"{parts.path}?{parts.query}", body=data)
            response = connection.getresponse()
            body = response.read()
        except (http.client.HTTPException, ConnectionError):
            connection.close()
            del state[parts.netloc]
            if attempt == 2:
                raise
            continue
        if response.status != 200:
            raise RuntimeError(f"PUT {parts.path}: HTTP {response.status}: {body[:300]!r}")
        return


def link_history(engine, owner: str, after_id: int, now) -> str:
    """Make the seeded blob rows (ids above `after_id`) real history: one more instance of
    OWNER/history holding them, written by the registry's own fragment-set code."""
    with make_session_factory(engine)() as session:
        package = session.query(Package).filter_by(owner=owner, name="history").one_or_none()
        if package is None:
            package = Package(owner=owner, name="history", folded_handle=f"{owner}/history", created_at=now)
            session.add(package)
            session.flush()
            session.execute(text("INSERT INTO access (package_id, principal) VALUES (:p, :o)"),
                            {"p": package.id, "o": owner})
        instance = Instance(package_id=package.id, hash=secrets.token_hex(32), created_at=now, created_by=owner,
                            updated_at=now, updated_by=owner)
        session.add(instance)
        session.flush()
        trees.save(session, instance.id, trees.serialize({"type": "ROOT", "children": {}}), max_bytes=10**9)
        rows = session.execute(text("SELECT id, hash, size FROM `blob` WHERE owner = :o AND id > :i"),
                               {"o": owner, "i": after_id}).all()
        fragment_sets.write(session, instance.id, owner, {h: blobs.Stored(size) for _, h, size in rows},
                            {h: id_ for id_, h, _ in rows})
        session.commit()
    return f"linked to an instance of {owner}/history"


def check(response: requests.Response, what: str) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


# -- the registry's database write path (adapt this when the write path changes) ----------------

def registry_commit_db(engine, fragments: dict[str, int]) -> None:
    """The registry's own database work for committing a push of `fragments` (hash -> size) of
    OWNER: a Package and an Instance row, the blob rows (`blobs.add_blobs`), the instance's
    fragment set (`fragment_sets.write`: chunks and their links) and the commit."""
    with make_session_factory(engine)() as session:
        name = f"commitdb_{secrets.token_hex(4)}"
        package = Package(owner=OWNER, name=name, folded_handle=f"{OWNER}/{name}")
        session.add(package)
        session.flush()
        now = utcnow()
        instance = Instance(package_id=package.id, hash=hashlib.sha256(name.encode()).hexdigest(),
                            created_at=now, created_by=OWNER, updated_at=now, updated_by=OWNER)
        session.add(instance)
        session.flush()
        rows, ids = blobs.add_blobs(session, OWNER, {h: blobs.Stored(size) for h, size in fragments.items()})
        fragment_sets.write(session, instance.id, OWNER, rows, ids)
        session.commit()


# -- sections ------------------------------------------------------------------------------------

def section_table(bench: Bench) -> None:
    heading(f"Scale table (owner {OWNER} stores {bench.stored(OWNER):,} objects before)")
    measured = {}
    for n in bench.args.fragments:
        result = bench.measured_push(OWNER, f"fresh{n}", small_files(n))
        bench.fresh[n] = result
        installs = []
        for _ in range(3):  # the median of three
            elapsed, response = bench.install(OWNER, result["name"], result["top_hash"])
            installs.append(elapsed)
        assert len(response.json()["sizes"]) == n
        del response
        result["install"] = statistics.median(installs)
        result["loop"] = bench.install_loop(OWNER, result["name"], result["top_hash"], bench.args.loop_seconds)
        measured[n] = result
        print(f"N={n:,}: dry {seconds(result['dry'])} s, upload of {result['uploaded']:,} fragments "
              f"{seconds(result['upload'])} s (not in the table), put {seconds(result['put'])} s, install "
              f"{seconds(result['install'])} s (median of {', '.join(seconds(x) for x in installs)}), loop {rate(result['loop'])} req/s, worker RSS peak {mib(result['rss'])} "
              f"(VmHWM {mib(result['hwm'])})", flush=True)
    rows = []
    for key, label, unit in TABLE_FIGURES:
        for n, result in measured.items():
            value = result[key]
            original, previous = ORIGINAL.get(n, {}).get(key), PREVIOUS.get(n, {}).get(key)
            goal_text, goal = TABLE_GOALS.get(n, {}).get(key, ("—", None))
            if unit == "s":
                shown, fmt, speedup = seconds(value), seconds, original and original / value
            elif unit == "req/s":
                shown, fmt, speedup = rate(value), rate, original and value / original
            else:
                shown, fmt, speedup = mib(value), mib, None
            ok = goal(value) if goal else None
            rows.append([f"{label} ({unit if unit != 'bytes' else 'MiB'})", f"{n:,}", f"{original:g}" if original else "—",
                         f"{previous:g}" if previous else "—", shown, ratio(speedup), goal_text,
                         "—" if ok is None else "PASS" if ok else "MISS"])
            bench.summary.add("table", f"{label}, N={n:,}", f"{shown} {unit if unit != 'bytes' else ''}".strip(),
                              goal_text, ok, f"{original:g} {unit}" if original else "—")
    table(["figure", "N", "original", "previous", "ours", "speed-up vs original", "goal", "result"], rows)


def section_history(bench: Bench) -> None:
    levels, sizes = bench.args.history_levels, bench.args.history_pushes
    heading(f"History independence (owner {HISTORY_OWNER}; levels {', '.join(f'{x:,}' for x in levels)})")
    results = {}
    for level in levels:
        missing = level - bench.stored(HISTORY_OWNER)
        if missing > 0:
            bench.seed(HISTORY_OWNER, missing)
        stored = bench.stored(HISTORY_OWNER)
        for n in sizes:
            # The median of a few pushes (each of fresh fragments, to a new package): one is noisy.
            pushes = [bench.push(HISTORY_OWNER, f"h{level}_{n}_{k}", kib_files(n)) for k in range(bench.args.history_repeat)]
            dry, put = statistics.median(r["dry"] for r in pushes), statistics.median(r["put"] for r in pushes)
            results[(level, n)] = (stored, dry, put)
            print(f"H={stored:,} N={n:,}: dry {seconds(dry)} s, put {seconds(put)} s (median of {len(pushes)}: dry "
                  f"{', '.join(seconds(r['dry']) for r in pushes)}; put {', '.join(seconds(r['put']) for r in pushes)})",
                  flush=True)
    rows = [[f"{level:,}", f"{stored:,}", f"{n:,}", seconds(dry), seconds(put), seconds(dry + put)]
            for (level, n), (stored, dry, put) in results.items()]
    table(["history level", "objects stored before", "push N (1 KiB)", "dry run (s, median)", "real PUT (s, median)",
           "total (s)"], rows)
    if len(levels) < 2:
        return
    rows = []
    for n in sizes:
        for label, pick in (("dry run", lambda r: r[1]), ("real PUT", lambda r: r[2]), ("dry + real", lambda r: r[1] + r[2])):
            values = [pick(results[(level, n)]) for level in levels]
            spread = max(values) / min(values)
            ok = spread < HISTORY_GOAL
            rows.append([f"{n:,}", label, " / ".join(seconds(v) for v in values), ratio(spread), f"< {HISTORY_GOAL}",
                         "PASS" if ok else "MISS"])
            bench.summary.add("history", f"{label}, push of {n:,}, max/min over H={'/'.join(f'{x:,}' for x in levels)}",
                              ratio(spread), f"< {HISTORY_GOAL}", ok)
    table(["push N", "figure", "seconds per level", "max/min", "goal", "result"], rows)


def section_incremental(bench: Bench) -> None:
    n = max(bench.args.fragments)
    heading(f"Incremental instance (a new instance of a {n:,}-fragment package, 10 fragments replaced)")
    fresh = bench.fresh_push(n)
    files = dict(fresh["files"])
    replaced = list(files)[:: max(1, n // 10)][:10]
    new = {path: os.urandom(8 + i % 93) for i, path in enumerate(replaced)}
    files.update(new)
    result = bench.measured_push(OWNER, fresh["name"], files, upload={hashlib.sha256(d).hexdigest() for d in new.values()})
    fresh_time, time_ = fresh["dry"] + fresh["put"], result["dry"] + result["put"]
    rows = []
    for label, push in (("fresh push", fresh), ("incremental push", result)):
        changed = ", ".join(f"{t} {r:+,}" for t, (r, _) in sorted(push["delta"].items()) if r)
        rows.append([label, seconds(push["dry"]), seconds(push["put"]), seconds(push["dry"] + push["put"]),
                     f"{push['rows']:,}", mib(push["bytes"]), changed])
    table(["push", "dry run (s)", "real PUT (s)", "dry + real (s)", "new rows", "new bytes", "rows per table"], rows)
    for label, ours, base, fmt in (("server time (dry + real PUT)", time_, fresh_time, seconds),
                                   ("new database rows", result["rows"], fresh["rows"], lambda v: f"{v:,}"),
                                   ("new database bytes", result["bytes"], fresh["bytes"], mib)):
        share = ours / base if base else float("inf")
        ok = share <= INCREMENTAL_GOAL
        print(f"{label}: incremental {fmt(ours)} vs fresh {fmt(base)} = {share:.1%} (goal <= 10%): "
              f"{'PASS' if ok else 'MISS'}")
        bench.summary.add("incremental", f"{label}, incremental / fresh ({n:,} fragments, 10 new)",
                          f"{share:.1%}", "<= 10%", ok)


def section_commitdb(bench: Bench) -> None:
    n = max(bench.args.fragments)
    heading(f"Database part of a commit ({n:,} fragments) vs a raw bulk INSERT")
    fragments = {hashlib.sha256(os.urandom(16)).hexdigest(): 8 + i % 93 for i in range(n)}
    now = utcnow()
    rows = [(OWNER, h, size, now, now) for h, size in sorted(fragments.items())]
    connection = raw_connection(bench.url)
    try:
        with connection.cursor() as cursor:
            # The same rows the registry writes: the blob rows and one link row per fragment.
            cursor.execute("CREATE TABLE scratch_blob LIKE `blob`")
            cursor.execute("CREATE TABLE scratch_link (chunk_id BIGINT NOT NULL, blob_id BIGINT NOT NULL, "
                           "PRIMARY KEY (chunk_id, blob_id), KEY (blob_id))")
            try:
                connection.begin()
                started = time.perf_counter()
                cursor.executemany("INSERT INTO scratch_blob (owner, hash, size, created_at, touched_at) "
                                   "VALUES (%s, %s, %s, %s, %s)", rows)
                cursor.executemany("INSERT INTO scratch_link (chunk_id, blob_id) VALUES (%s, %s)",
                                   [(i // 64, i) for i in range(len(rows))])
                connection.commit()
                raw = time.perf_counter() - started
            finally:
                cursor.execute("DROP TABLE scratch_blob")
                cursor.execute("DROP TABLE scratch_link")
    finally:
        connection.close()
    started = time.perf_counter()
    registry_commit_db(bench.engine, fragments)
    ours = time.perf_counter() - started
    share = ours / raw
    ok = share <= COMMITDB_GOAL
    table(["write", "rows", "seconds", "rows/s"],
          [["raw DBAPI executemany INSERT + COMMIT (scratch blob and link tables)", f"{n:,}", seconds(raw), f"{n / raw:,.0f}"],
           ["registry_commit_db (package, instance, blob rows, fragment set, commit)", f"{n:,}", seconds(ours), f"{n / ours:,.0f}"]])
    print(f"registry / raw: {ratio(share)} (goal <= {COMMITDB_GOAL:g}x): {'PASS' if ok else 'MISS'}")
    bench.summary.add("commitdb", f"registry_commit_db / raw bulk INSERT ({n:,} rows)",
                      f"{ratio(share)} ({seconds(ours)} s vs {seconds(raw)} s)", f"<= {COMMITDB_GOAL:g}x", ok)


BARE_APP = '''\
from flask import Flask, jsonify

app = Flask(__name__)
BODY = {"hash": "0" * 64, "created_by": "alice", "created_at": 1700000000.0, "updated_by": "alice",
        "updated_at": 1700000000.0}


@app.get("/api/bare")
def bare():
    return jsonify(BODY)
'''


def wrk(url: str, duration: int, headers: dict[str, str] | None = None) -> dict:
    command = ["wrk", "-t2", "-c16", f"-d{duration}s"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True, timeout=duration + 60).stdout
    requests_ = int(re.search(r"(\d+) requests in", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)), "requests": requests_,
            "bad": int(bad.group(1)) if bad else 0, "errors": (re.search(r"Socket errors:.*", output) or [""])[0].strip()}


def wrk_counts(result: dict) -> str:
    return f"{result['requests']:,} ({result['bad']} non-2xx)" + (f"; {result['errors']}" if result["errors"] else "")


def ensure_wrk() -> bool:
    if shutil.which("wrk"):
        return True
    print("wrk is missing; trying `apt-get install -y wrk`", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, stdout=subprocess.DEVNULL)
    return bool(shutil.which("wrk"))


def section_reads(bench: Bench) -> None:
    duration = bench.args.wrk_seconds
    heading(f"Metadata reads (wrk -t2 -c16 -d{duration}s; gunicorn {WORKERS} workers x {THREADS} threads)")
    if not ensure_wrk():
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    # The bare endpoint: the same gunicorn command and config as `registry serve --workers 4`.
    (bench.tmp / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    command = gunicorn_command("127.0.0.1", port, WORKERS, THREADS, 120)[:-1] + ["--chdir", str(bench.tmp), "bare_app:app"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(bench.tmp), str(ROOT)])}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(bench.tmp / "bare.log", "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    bench.stack.callback(stop_process_group, process)
    bare_url = f"http://127.0.0.1:{port}/api/bare"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            if requests.get(bare_url, timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("the bare gunicorn app did not start:\n" + (bench.tmp / "bare.log").read_text()[-2000:])
        time.sleep(0.2)
    wait_for_workers(process.pid, WORKERS)
    results = {"bare": wrk(bare_url, duration)}
    stop_process_group(process)

    small = bench.push(OWNER, "reads10", {f"d/f{i}.txt": os.urandom(8 + i) for i in range(10)}, public=True)
    big = bench.push(OWNER, "reads1000", small_files(1000, prefix="d"), public=True)
    token = {"Authorization": f"Bearer {bench.tokens[OWNER]}"}
    tag_url = f"{bench.base}/api/tag/{OWNER}/reads10/latest"
    assert requests.get(tag_url, timeout=10).json()["hash"] == small["top_hash"]
    runs = (("tag", "GET tag latest, anonymous", tag_url, None),
            ("tag", "GET tag latest, with token", tag_url, token),
            ("obj10", "GET 10-object instance", bench.install_url(OWNER, "reads10", small["top_hash"]), token),
            ("obj1000", "GET 1,000-object instance", bench.install_url(OWNER, "reads1000", big["top_hash"]), token))
    rows = [["bare Flask JSON endpoint (same gunicorn settings)", rate(results["bare"]["rps"]), "—", "1.00x", "—", "—",
             wrk_counts(results["bare"])]]
    bare = results["bare"]["rps"]
    for key, label, url, headers in runs:
        result = wrk(url, duration, headers)
        if key != "tag":
            name = "reads10" if key == "obj10" else "reads1000"
            bench.served[name] = bench.served.get(name, 0) + result["requests"] - result["bad"]
            bench.inflight[name] = bench.inflight.get(name, 0) + 16
        vs_bare, vs_original = result["rps"] / bare, result["rps"] / READS_ORIGINAL[key]
        if key == "obj1000":
            goal, ok = f">= {READS_OBJ1000_GOAL:g} req/s", result["rps"] >= READS_OBJ1000_GOAL
        else:
            goal, ok = f">= {READS_BARE_GOAL}x bare", vs_bare >= READS_BARE_GOAL
        rows.append([label, rate(result["rps"]), rate(READS_ORIGINAL[key]), ratio(vs_bare), ratio(vs_original), goal,
                     wrk_counts(result)])
        bench.summary.add("reads", f"{label} (req/s; {ratio(vs_bare)} of bare {rate(bare)})", rate(result["rps"]),
                          goal, ok, f"{rate(READS_ORIGINAL[key])} req/s")
        if result["bad"]:
            print(f"warning: {label}: {result['bad']} answers were not 2xx", flush=True)
    table(["endpoint", "req/s", "original req/s", "vs bare", "vs original", "goal", "requests"], rows)


def section_installjson(bench: Bench) -> None:
    n = max(bench.args.fragments)
    heading(f"Install metadata ({n:,} fragments) vs json.dumps of the same response")
    fresh = bench.fresh_push(n)
    gets = []
    for _ in range(3):  # best of three, as json.dumps below
        elapsed, response = bench.install(OWNER, fresh["name"], fresh["top_hash"])
        gets.append(elapsed)
    elapsed = min(gets)
    size = len(response.content)
    document = response.json()
    del response
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        json.dumps(document)
        timings.append(time.perf_counter() - started)
    dumps = min(timings)
    share = elapsed / dumps
    ok = share <= INSTALLJSON_GOAL
    table(["step", "seconds"], [[f"install GET over HTTP ({size / 1e6:.1f} MB; best of 3)", seconds(elapsed)],
                                ["json.dumps(response) in-process (best of 3)", seconds(dumps)]])
    print(f"install GET / json.dumps: {ratio(share)} (goal <= {INSTALLJSON_GOAL:g}x): {'PASS' if ok else 'MISS'}")
    bench.summary.add("installjson", f"install GET / json.dumps, N={n:,}",
                      f"{ratio(share)} ({seconds(elapsed)} s vs {seconds(dumps)} s)", f"<= {INSTALLJSON_GOAL:g}x", ok)


def section_events(bench: Bench) -> None:
    heading("Install events (every install GET answered 200 is in the `event` table)")
    time.sleep(1)
    with bench.db.cursor() as cursor:
        cursor.execute("SELECT package_name, COUNT(*) FROM event WHERE type = 'INSTALL' AND package_owner = %s "
                       "GROUP BY package_name", (OWNER,))
        recorded = dict(cursor.fetchall())
    rows, all_ok = [], True
    for name, served in sorted(bench.served.items()):
        count, slack = recorded.get(name, 0), bench.inflight.get(name, 0)
        ok = served <= count <= served + slack
        all_ok &= ok
        rows.append([f"{OWNER}/{name}", f"{served:,}", f"{count:,}",
                     f"up to {slack} cut by wrk at its end" if slack else "—", "PASS" if ok else "MISS"])
    table(["package", "GETs answered 200", "INSTALL events", "in flight at wrk's end", "result"], rows)
    bench.summary.add("events", "install events recorded vs GETs served",
                      f"{sum(recorded.get(n, 0) for n in bench.served):,} of {sum(bench.served.values()):,}",
                      "all counted", all_ok)


# -- main --------------------------------------------------------------------------------------

def numbers(value: str) -> list[int]:
    return [int(part.replace("_", "")) for part in value.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fragments", type=numbers, default=[10_000, 100_000], help="N of the table (default 10000,100000)")
    parser.add_argument("--history", type=int, default=50_000, help=f"objects {OWNER} stores before the table (default 50000)")
    parser.add_argument("--history-levels", type=numbers, default=[0, 50_000, 500_000],
                        help="objects stored by the owner before each history push (default 0,50000,500000)")
    parser.add_argument("--history-pushes", type=numbers, default=[1_000, 10_000],
                        help="fresh 1 KiB fragments per history push (default 1000,10000)")
    parser.add_argument("--history-repeat", type=int, default=3,
                        help="pushes per size and level; the median is reported (default 3)")
    parser.add_argument("--loop-seconds", type=float, default=10.0, help="install GET loop duration (default 10)")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="wrk -d (default 10)")
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/", help="a MariaDB/MySQL server")
    parser.add_argument("--skip-wrk", action="store_true", help="leave out the metadata reads (wrk)")
    parser.add_argument("--skip-history", action="store_true", help="leave out history independence")
    parser.add_argument("--only", default="", help=f"comma list of sections: {','.join(SECTIONS)}")
    parser.add_argument("--keep-logs", action="store_true", help="keep server, SeaweedFS and gunicorn logs")
    args = parser.parse_args()
    sections = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if args.skip_wrk:
        sections = [s for s in sections if s != "reads"]
    if args.skip_history:
        sections = [s for s in sections if s != "history"]
    # The history section goes last: its 500,000 objects would otherwise be in every other figure's database.
    sections = [s for s in SECTIONS if s in sections and s != "history"] + (["history"] if "history" in sections else [])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # cleanup runs on SIGTERM too
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="registry-scale-"))
    bench = None
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(args, tmp, stack)
            bench.start()
            if args.history and set(sections) - {"history"}:
                bench.seed(OWNER, args.history)
            bench.warm_up()
            for name in sections:
                try:
                    globals()[f"section_{name}"](bench)
                except Exception as exc:  # noqa: BLE001 - report, go on with the next section
                    STOP.clear()
                    print(f"\nsection {name} failed:\n{traceback.format_exc()}", flush=True)
                    bench.summary.error(name, exc)
            if bench.served:
                section_events(bench)
            bench.summary.print()
            print(f"\ntotal run time {time.perf_counter() - started:.0f} s")
    finally:
        STOP.set()
        if args.keep_logs:
            kept = Path(tempfile.mkdtemp(prefix="registry-scale-logs-"))
            for log in ("server.log", "bare.log", "seaweedfs/weed.log"):
                if (tmp / log).exists():
                    shutil.copy(tmp / log, kept / Path(log).name)
            print(f"logs kept in {kept}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: everything started was stopped and the database dropped")

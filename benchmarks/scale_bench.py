"""The Bench of benchmarks/scale.py: it starts the stack (database, SeaweedFS, `registry serve`),
speaks HTTP to it as the quilt client does, seeds history and measures pushes."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path

import requests
from botocore.credentials import Credentials
from sqlalchemy.engine import make_url

from registry import Settings, create_app
from registry.db import utcnow
from registry.read_cache import RedisGeneration
from registry.storage.sigv4 import PresignerV4
from registry.tree import tophash
from registry_client.tree import changes as tree_changes
from scale_report import Summary
from scale_stack import (BUCKET, HISTORY_OWNER, HTTP_TIMEOUT, LOOP_THREADS, OWNER, ROOT, SEED_THREADS, STOP, THREADS,
                         UPLOAD_THREADS, WORKERS, RssSampler, Server, check, children, cpu_seconds, database,
                         http_put, parallel, pids_named, raw_connection, run_threads, settle, small_files)
from scale_writepath import link_history
from tests.helpers import TestRegistry, build_tree
from tests.support.seaweedfs import SeaweedFS


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
            s3_signed_checksums=True, access_token_seconds=7 * 86400,  # a long run outlives the 1 h default
            # As production runs on several hosts: throttling counters and the read cache's write
            # generation in Redis (--redis ''; neither, reads then always ask the database).
            ratelimit_storage_url=args.redis)
        app = create_app(self.settings)
        self.engine = app.extensions["registry"].engine
        generation = getattr(app.extensions["registry"].read_cache, "generation", None)
        if isinstance(generation, RedisGeneration):
            stack.callback(generation.forget)
        stack.callback(self.engine.dispose)
        self.helper = TestRegistry(app)
        self.tokens = {}
        for name in (OWNER, HISTORY_OWNER):
            self.add_user(name)
        self.db = raw_connection(self.url)
        self.db_lock = threading.Lock()
        stack.callback(self.db.close)
        # The servers run this checkout's registry too, whatever the current directory.
        self.server = Server(self.settings, tmp / "server.log", extra_env={"PYTHONPATH": str(ROOT)})
        stack.callback(self.server.stop)
        self.server.start()
        self.base = self.server.url
        with self.db.cursor() as cursor:
            cursor.execute("SELECT @@innodb_buffer_pool_size")
            (pool,) = cursor.fetchone()
        print(f"setup: database {self.schema} on {make_url(args.database_url).render_as_string(hide_password=True)} "
              f"(innodb_buffer_pool_size {int(pool) // 2**20:,} MiB), "
              f"SeaweedFS {self.s3.endpoint_url} (signatures checked, signed checksums on), "
              f"registry serve --workers {WORKERS} --threads {THREADS} at {self.base}, "
              f"read cache {'on, generation in Redis ' + args.redis if args.redis else 'off (no Redis)'} "
              f"({time.perf_counter() - started:.1f} s)", flush=True)

    def add_user(self, name: str) -> str:
        """A new user with a token (kept in self.tokens); returns the name."""
        self.helper.create_user(name)
        self.tokens[name] = self.helper.token(name)
        return name

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
        processes = self.processes()
        cpu_before = {part: cpu_seconds(pids) for part, pids in processes.items()}
        fsyncs_before = self.data_fsyncs()
        started = time.perf_counter()
        response = self.session().put(url, data=packed, headers=headers, timeout=HTTP_TIMEOUT)
        put = time.perf_counter() - started
        put_cpu = {part: cpu_seconds(pids) - cpu_before[part] for part, pids in processes.items()}
        put_fsyncs = self.data_fsyncs() - fsyncs_before
        check(response, "push")
        return {"name": name, "top_hash": top_hash, "files": files, "dry": dry, "put": put, "upload": uploaded,
                "uploaded": len(wanted), "put_cpu": put_cpu, "put_fsyncs": put_fsyncs}

    def data_fsyncs(self) -> int:
        """InnoDB's fsyncs of data files so far: a young table's file grows a page or a megabyte
        at a time, each step synced, so a new database's first pushes wait for dozens of them."""
        with self.db_lock, self.db.cursor() as cursor:  # pushes run in threads (warm-up): one at a time here
            cursor.execute("SHOW GLOBAL STATUS LIKE 'Innodb_data_fsyncs'")
            return int(cursor.fetchone()[1])

    def processes(self) -> dict[str, list[int]]:
        """The processes a push keeps busy, by part: the registry's workers, MariaDB, SeaweedFS."""
        return {"workers": children(self.server.process.pid),
                "MariaDB": [*pids_named("mariadbd"), *pids_named("mysqld")], "SeaweedFS": [self.s3.pid]}

    def sdk_push(self, owner: str, name: str, files: dict[str, bytes], *, base: dict | None = None) -> dict:
        """A push as our SDK sends it: the push plan for the fragments the registry may lack, their
        upload (not timed), then the whole tree, or with `base` (a push's result) only the changes
        from its tree and the plan for only the fragments it lacks. Timed like `push`."""
        contents, data = build_tree(files)
        top_hash = tophash(contents)
        if base is None:
            wanted = set(data)
            url, body = f"{self.base}/api/package/{owner}/{name}/{top_hash}", {
                "dry_run": False, "is_public": False, "is_team": False, "description": "", "contents": contents}
        else:
            base_tree, base_data = build_tree(base["files"])
            wanted = set(data) - set(base_data)
            url, body = f"{self.base}/api/v2/package/{owner}/{name}/{top_hash}", {
                "base": base["top_hash"], "changes": tree_changes(base_tree, contents)}
        sizes = {h: len(data[h]) for h in sorted(wanted)}
        body["sizes"] = sizes
        headers = self.headers(owner, gzipped=True)
        packed = gzip.compress(json.dumps({"fragments": sizes}).encode())
        started = time.perf_counter()
        response = self.session().post(f"{self.base}/api/v2/push-plan/{owner}/{name}", data=packed, headers=headers,
                                       timeout=HTTP_TIMEOUT)
        plan = time.perf_counter() - started
        check(response, "push plan")
        entries = response.json()["fragments"]
        assert {e["action"] for e in entries.values()} <= {"single", "stored"}, "fragments are small"
        started = time.perf_counter()
        parallel([(e["url"], data[h], e["headers"]) for h, e in entries.items() if e["action"] == "single"],
                 lambda item, state: http_put(state, *item), UPLOAD_THREADS)
        uploaded = time.perf_counter() - started
        packed = gzip.compress(json.dumps(body).encode())
        started = time.perf_counter()
        response = self.session().put(url, data=packed, headers=headers, timeout=HTTP_TIMEOUT)
        put = time.perf_counter() - started
        check(response, "push")
        return {"name": name, "top_hash": top_hash, "files": files, "dry": plan, "put": put, "upload": uploaded,
                "uploaded": len(wanted), "body_bytes": len(packed)}

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
        # Timed pushes follow: first let MariaDB and SeaweedFS finish writing all that back.
        waited = self.settle()
        print(f"seeded {count:,} objects of {owner} in {elapsed:.1f} s ({count / stored:,.0f} objects/s into S3, "
              f"rows {elapsed - stored:.1f} s; {linked}); then MariaDB and SeaweedFS settled in {waited:.1f} s",
              flush=True)
        return elapsed

    def settle(self) -> float:
        """Wait until MariaDB and SeaweedFS are idle (see scale_stack.settle); returns the seconds."""
        return settle([self.s3.pid, *pids_named("mariadbd"), *pids_named("mysqld")])

    def set_buffer_pool(self, size: int) -> None:
        """innodb_buffer_pool_size for the run (the server resizes it online), restored at exit."""
        with self.db.cursor() as cursor:
            cursor.execute("SELECT @@innodb_buffer_pool_size")
            (before,) = cursor.fetchone()
            cursor.execute("SET GLOBAL innodb_buffer_pool_size = %s", (size,))
            self.stack.callback(self._restore_buffer_pool, int(before))
            started = time.perf_counter()
            while time.perf_counter() - started < 120:  # the server resizes in the background
                cursor.execute("SELECT @@innodb_buffer_pool_size")
                if int(cursor.fetchone()[0]) >= size:
                    break
                time.sleep(0.5)
        waited = settle([*pids_named("mariadbd"), *pids_named("mysqld")])
        print(f"innodb_buffer_pool_size {int(before) // 2**20:,} MiB -> {size // 2**20:,} MiB for this run "
              f"(resized and settled in {time.perf_counter() - started:.1f} s, {waited:.1f} s of it idle-waiting)",
              flush=True)

    def _restore_buffer_pool(self, size: int) -> None:
        with raw_connection(self.url) as db, db.cursor() as cursor:
            cursor.execute("SET GLOBAL innodb_buffer_pool_size = %s", (size,))

    def stored(self, owner: str | None = None) -> int:
        """The objects `owner` stores, or everyone's."""
        with self.db.cursor() as cursor:
            if owner is None:
                cursor.execute("SELECT COUNT(*) FROM `blob`")
            else:
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

    def measured_push(self, owner: str, name: str, files: dict[str, bytes], *, sdk: bool = False, **kwargs) -> dict:
        """A push (as quilt sends it, or `sdk`) with the database rows and bytes it added and the
        workers' peak memory."""
        before = self.footprint()
        with RssSampler(self.server.process.pid) as rss:
            result = (self.sdk_push if sdk else self.push)(owner, name, files, **kwargs)
        after = self.footprint()
        delta = {t: (after[t][0] - before.get(t, (0, 0))[0], after[t][1] - before.get(t, (0, 0))[1]) for t in after}
        result.update(rss=rss.peak, hwm=rss.hwm, rows=sum(r for r, _ in delta.values()),
                      bytes=sum(b for _, b in delta.values()), delta=delta)
        return result

    def warm_up(self) -> None:
        """A few small pushes and installs, at once on fresh connections, so that every worker has
        served a request (S3 client, SQL compilation caches) before anything is timed, for each
        owner that pushes (the first requests of a user cost more: its token and its store folders)."""
        def warm(i: int) -> None:
            owner = (OWNER, HISTORY_OWNER)[i % 2]
            result = self.push(owner, f"warmup{i}", small_files(10))
            self.install(owner, result["name"], result["top_hash"], counted=False)

        run_threads(4 * WORKERS, warm)

    def fresh_push(self, n: int) -> dict:
        """The table's fresh push of n fragments, or one made now for a section run on its own."""
        if n not in self.fresh:
            print(f"(pushing a fresh package of {n:,} fragments for this section)", flush=True)
            self.fresh[n] = self.measured_push(OWNER, f"fresh{n}", small_files(n))
        return self.fresh[n]

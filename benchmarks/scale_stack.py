"""The moving parts of benchmarks/scale.py: threads that stop on Ctrl-C, fragments, the processes
(`registry serve`, its workers' memory, the bare gunicorn app, wrk), the bench database and the
presigned PUTs. Imported by scale.py, which puts the repository root on sys.path first."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import pymysql
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry import migrate
from registry.db import make_engine
from tests.support.live_server import START_TIMEOUT, LiveRegistry

ROOT = Path(__file__).resolve().parent.parent  # the repository root: the servers run this checkout's registry

OWNER = "alice"  # owns the table's packages and H history objects
HISTORY_OWNER = "bob"  # the history section's owners are named after it: bob50000, bob500000, one new per level-0 push
BUCKET = "registry"
WORKERS, THREADS = 4, 8  # registry serve --workers 4 (its default threads: 8)
UPLOAD_THREADS = 32
SEED_THREADS = 32
LOOP_THREADS = 8
HTTP_TIMEOUT = 600
STOP = threading.Event()  # set on Ctrl-C / SIGTERM: worker threads stop at their next item


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


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes used so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (the 14th and 15th fields)
    return total / os.sysconf("SC_CLK_TCK")


def pids_named(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def settle(pids: list[int], *, idle: float = 0.05, window: float = 1.0, limit: float = 180.0) -> float:
    """Wait until the processes use less than `idle` of a core over `window` seconds (at most
    `limit` seconds in all); returns the seconds waited. After a bulk seed of hundreds of
    thousands of objects and rows, MariaDB and SeaweedFS go on flushing and compacting for a
    while, and a push timed meanwhile would time that too."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = cpu_seconds(pids)
        time.sleep(window)
        if cpu_seconds(pids) - before < idle * window:
            break
    return time.perf_counter() - started


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



def http_put(state: dict, url: str, data: bytes, headers: dict[str, str] | None = None) -> None:
    """PUT `data` to a presigned URL on this thread's keep-alive connection (`state`), as signed:
    no headers but Host, Content-Length and the signed `headers`. One retry on a fresh connection
    if the old one was closed."""
    parts = urlsplit(url)
    for attempt in (1, 2):
        connection = state.get(parts.netloc)
        if connection is None:
            connection = state[parts.netloc] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            connection.request("PUT", f"{parts.path}?{parts.query}", body=data, headers=headers or {})
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


def check(response: requests.Response, what: str) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:500]}")


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

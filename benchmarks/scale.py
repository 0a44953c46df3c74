"""The whole "Scale" table in one run: a live registry (`registry serve --workers 4`, gunicorn) on
MariaDB and SeaweedFS, driven over raw HTTP the way the quilt client speaks it. Prints each figure
next to the original registry's, the speed-up and the goal, then one summary table (markdown).
See benchmarks/README.md. Everything it starts is stopped and its database dropped at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # for tests.support and tests.helpers; and this checkout's registry
if str(HERE) not in sys.path:
    sys.path.insert(1, str(HERE))  # the sibling modules scale_*.py (benchmarks/ is not a package)

import requests

from registry.cli.serve import gunicorn_command
from registry.db import utcnow
from scale_bench import Bench
from scale_push_sections import section_history, section_incremental, section_table
from scale_report import (COMMITDB_GOAL, INSTALLJSON_GOAL, READS_BARE_GOAL, READS_OBJ1000_GOAL, READS_ORIGINAL,
                          heading, rate, ratio, seconds, table)
from scale_stack import (BARE_APP, OWNER, ROOT, STOP, THREADS, WORKERS, ensure_wrk, raw_connection, small_files,
                         stop_process_group, wait_for_workers, wrk, wrk_counts)
from scale_writepath import registry_commit_db
from tests.support.live_server import START_TIMEOUT, free_port

# -- sections ------------------------------------------------------------------------------------

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
                        help="pushes per size and level, at least; the median is reported (default 3; "
                             "9 of 1,000 fragments, 5 of 10,000)")
    parser.add_argument("--loop-seconds", type=float, default=10.0, help="install GET loop duration (default 10)")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="wrk -d (default 10)")
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/", help="a MariaDB/MySQL server")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0",
                        help="Redis for throttling and the read cache's write generation, as production runs "
                             "(default redis://127.0.0.1:6379/0; '' for none)")
    parser.add_argument("--skip-wrk", action="store_true", help="leave out the metadata reads (wrk)")
    parser.add_argument("--skip-history", action="store_true", help="leave out history independence")
    parser.add_argument("--only", default="", help=f"comma list of sections: {','.join(SECTIONS)}")
    parser.add_argument("--keep-logs", action="store_true", help="keep server, SeaweedFS and gunicorn logs")
    parser.add_argument("--buffer-pool-mib", type=int, default=0,
                        help="set the server's innodb_buffer_pool_size for the run, restored at exit (default: "
                             "leave it; MariaDB's own default is 128 MiB, less than 500,000 stored objects' rows)")
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
            if args.buffer_pool_mib:
                bench.set_buffer_pool(args.buffer_pool_mib * 1024 * 1024)
            if args.history and set(sections) - {"history"}:
                bench.seed(OWNER, args.history)
            bench.warm_up()
            for name in sections:
                try:
                    SECTION_RUNS[name](bench)
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


SECTION_RUNS = {"table": section_table, "history": section_history, "incremental": section_incremental,
                "commitdb": section_commitdb, "reads": section_reads, "installjson": section_installjson}
SECTIONS = tuple(SECTION_RUNS)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: everything started was stopped and the database dropped")

"""Transfers v2 in one run: the SDK's push and install of a big file against raw boto3 on the same
SeaweedFS, a push SIGKILLed halfway that resumes, an s3:// source bigger than one copy part
imported inside S3, and a push of many tiny files pushed again with one file changed. Prints markdown tables and a summary with each goal and PASS/MISS.

    .venv/bin/python benchmarks/transfer.py                       # 1 GiB file, 100,000 small files
    .venv/bin/python benchmarks/transfer.py --small-files 20000   # quicker on a small machine
    .venv/bin/python benchmarks/transfer.py --big-size 6GiB       # also a 6 GiB round trip (~30 GB disk)

It starts a fresh MariaDB database (`--database-url`, dropped at exit), SeaweedFS (signatures
checked) and `registry serve` (LiveRegistry, 2 workers) with the default 64 MiB parts and multipart
threshold (`--part-mib` changes both). Everything it starts is stopped and its files deleted at
exit, on Ctrl-C and on errors too.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # this checkout's registry, registry_client and tests.support
sys.path.insert(1, str(HERE))  # scale_stack, scale_report (benchmarks/ is not a package)

from boto3.s3.transfer import TransferConfig

from registry import Settings
from registry.db import make_engine, make_session_factory
from registry.services import users
from registry_client import Client, Package, login
from registry_client import Settings as ClientSettings
from scale_report import Summary, heading, ratio, seconds, table
from scale_stack import database
from tests.support import seaweedfs
from tests.support.live_server import LiveRegistry, web_login_code

MiB, GiB = 1024 ** 2, 1024 ** 3
BUCKET, USER, PASSWORD = "registry", "alice", "alice's benchmark password"
LAKE = "datalake"  # a bucket the registry may import from
SPEED_GOAL, RESENT_GOAL = 0.9, 0.15

# The killed push: logs each part PUT as it starts (requests' adapter, before any byte goes out)
# and as it is answered (on_blob_request), and SIGKILLs itself once half the parts are answered.
KILLED_PUSH = textwrap.dedent("""
    import os, signal, sys, threading
    from pathlib import Path
    import requests.adapters
    from registry_client import Client, Package, Settings

    home, registry, path, name, parts, workers, log_path = sys.argv[1:8]
    log, answered, lock = open(log_path, "a", buffering=1), [], threading.Lock()
    number = lambda url: int(url.split("partNumber=")[1].split("&")[0])
    real_send = requests.adapters.HTTPAdapter.send

    def send(self, request, **kwargs):
        if "partNumber=" in request.url:
            log.write(f"start {number(request.url)}\\n")
        return real_send(self, request, **kwargs)

    def answer(request):
        if "partNumber=" in request.url:
            with lock:
                log.write(f"done {number(request.url)}\\n")
                answered.append(request.url)
                if len(answered) >= int(parts) // 2:
                    os.kill(os.getpid(), signal.SIGKILL)

    requests.adapters.HTTPAdapter.send = send
    client = Client(Settings.at(Path(home)), progress="never", workers=int(workers), on_blob_request=answer)
    Package().set("big.bin", path).push(name, registry, client=client)
""")


def size_arg(text: str) -> int:
    """1073741824, 1GiB, 512MiB."""
    for suffix, unit in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024), ("", 1)):
        if text.endswith(suffix):
            return int(float(text[:len(text) - len(suffix)] or 0) * unit)
    raise ValueError(text)


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as handle:
        for start in range(0, size, 64 * MiB):
            handle.write(os.urandom(min(64 * MiB, size - start)))
    return path


def puts(requests_: list) -> list:
    return [r for r in requests_ if r.method == "PUT"]


def sent_bytes(requests_: list) -> int:
    return sum(int(r.headers.get("Content-Length", 0)) for r in puts(requests_))


def mibs(size: int, elapsed: float) -> str:
    return f"{size / MiB / elapsed:,.1f}"


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


class RoomySeaweedFS(seaweedfs.SeaweedFS):
    """The tests' 100 volumes of 64 MB hold ~6 GB, less than the repeated round trips write; 1 GB
    volumes hold 100 GB."""

    def _launch(self, config):
        real = subprocess.Popen

        def popen(command, **kwargs):
            return real([a.replace("volumeSizeLimitMB=64", "volumeSizeLimitMB=1024") for a in command], **kwargs)

        with mock.patch.object(seaweedfs.subprocess, "Popen", popen):
            super()._launch(config)


class Bench:
    def __init__(self, args, tmp: Path, stack: contextlib.ExitStack):
        self.args, self.tmp, self.summary = args, tmp, Summary()
        db_url, name = stack.enter_context(database(args.database_url))
        self.s3 = RoomySeaweedFS(tmp / "seaweedfs")
        stack.callback(self.s3.stop)
        self.s3.start()
        self.boto3 = self.s3.client()
        self.boto3.create_bucket(Bucket=BUCKET)
        part = args.part_mib * MiB
        settings = Settings.from_env(
            os.environ, data_dir=tmp / "server", database_url=db_url, secret_key=secrets.token_urlsafe(48),
            storage="s3", s3_bucket=BUCKET, s3_endpoint_url=self.s3.endpoint_url, s3_region=self.s3.region,
            s3_access_key_id=self.s3.access_key, s3_secret_access_key=self.s3.secret_key,
            s3_signed_checksums=True, upload_part_bytes=part, multipart_threshold_bytes=part,
            s3_import_buckets=LAKE, s3_copy_part_bytes=args.copy_part_mib * MiB,
            throttle_account_limit=0, throttle_address_limit=0)  # it signs in a dozen machines of alice
        engine = make_engine(db_url)
        with make_session_factory(engine)() as session:
            users.create_user(session, USER, password=PASSWORD)
            session.commit()
        engine.dispose()
        self.server = LiveRegistry(settings, tmp / "server.log", extra_env={"PYTHONPATH": str(ROOT)})
        stack.callback(self.server.stop)
        self.server.start()
        self.url, self.part = self.server.url, part
        print(f"setup: database {name}, SeaweedFS {self.s3.endpoint_url} (signatures checked), registry serve "
              f"--workers 2 at {self.url}; parts and multipart threshold {args.part_mib} MiB; SDK workers "
              f"{args.workers}", flush=True)

    def machine(self, name: str, workers: int | None = None) -> tuple[Path, Client, list]:
        """A signed-in client machine with its own folders; the list gets every blob request it sends."""
        home, sent = self.tmp / "machines" / name, []
        client = Client(ClientSettings.at(home), progress="never", workers=workers or self.args.workers,
                        on_blob_request=sent.append)
        login(self.url, web_login_code(self.url, USER, PASSWORD), client=client)
        return home, client, sent

    # 1. A big file: SDK push and install vs boto3 upload_file and download_file

    def round_trip(self, size: int, label: str, repeat: int) -> None:
        heading(f"Round trip of a {size / MiB:,.0f} MiB file: SDK vs boto3 (same SeaweedFS)")
        config = TransferConfig(multipart_threshold=self.part, multipart_chunksize=self.part,
                                max_concurrency=self.args.workers)
        times = {"push": [], "install": [], "upload_file": [], "download_file": []}
        sent = []

        def sdk():
            sent[:] = self._sdk_round_trip(source, f"{label}_{run}", times)

        def boto():
            key, copy = f"boto3/{label}-{run}.bin", self.tmp / f"{label}-boto3.bin"
            times["upload_file"].append(timed(lambda: self.boto3.upload_file(str(source), BUCKET, key, Config=config)))
            times["download_file"].append(timed(lambda: self.boto3.download_file(BUCKET, key, str(copy), Config=config)))
            copy.unlink()

        # Interleaved, each side first in turn, so a noisy moment of the machine (or the page
        # cache, warm for whoever reads the file second) favours neither.
        for run in range(repeat):
            source = random_file(self.tmp / f"{label}.bin", size)  # new bytes: nothing is stored yet
            os.sync()  # its writeback is over before anyone is timed
            for side in ((sdk, boto) if run % 2 == 0 else (boto, sdk)):
                side()
                os.sync()
            source.unlink()
        rows = []
        for what, ours, theirs in (("push / upload_file", "push", "upload_file"),
                                   ("install / download_file", "install", "download_file")):
            ours, theirs = statistics.median(times[ours]), statistics.median(times[theirs])
            speed = theirs / ours  # SDK MiB/s over boto3 MiB/s
            ok = speed >= SPEED_GOAL
            rows.append([what, seconds(ours), mibs(size, ours), seconds(theirs), mibs(size, theirs), ratio(speed),
                         f">= {SPEED_GOAL}x", "PASS" if ok else "MISS"])
            self.summary.add("round trip", f"SDK {what.split(' / ')[0]} speed / boto3 ({size / MiB:,.0f} MiB)",
                             f"{ratio(speed)} ({mibs(size, ours)} vs {mibs(size, theirs)} MiB/s)", f">= {SPEED_GOAL}x", ok)
        table(["SDK / boto3", "SDK s", "SDK MiB/s", "boto3 s", "boto3 MiB/s", "SDK / boto3 speed", "goal", "result"],
              rows)
        print((f"Medians of {repeat} interleaved runs, each with new bytes, each side first in turn ("
               if repeat > 1 else "One run (")
              + "; ".join(f"{what} {', '.join(f'{t:.1f}' for t in runs)} s" for what, runs in times.items())
              + f"). SDK: {len(puts(sent))} PUTs of {sent_bytes(sent) / MiB:,.1f} MiB; the push includes hashing "
              f"the file where it is, the install moving it into place. boto3 {self.part // MiB} MiB parts, "
              f"max_concurrency {self.args.workers}, its default checksums.", flush=True)

    def _sdk_round_trip(self, source: Path, label: str, times: dict) -> list:
        """Push `source` as a new package and install it on a new machine; returns the pusher's blob requests."""
        home, pusher, sent = self.machine(f"{label}-pusher")
        top_hash = None

        def push():
            nonlocal top_hash
            top_hash = Package().set("big.bin", source).push(f"{USER}/{label}", self.url, client=pusher)

        times["push"].append(timed(push))
        reader_home, reader, _ = self.machine(f"{label}-reader")
        dest = self.tmp / f"{label}-installed"
        times["install"].append(timed(lambda: Package.install(f"{USER}/{label}", self.url, dest=dest,
                                                              top_hash=top_hash, client=reader)))
        if (dest / "big.bin").stat().st_size != source.stat().st_size:
            raise RuntimeError("the installed file has the wrong size")
        for folder in (dest, reader_home, home):  # disk, for --big-size
            shutil.rmtree(folder)
        return sent

    # 2. A push SIGKILLed at half its parts, pushed again

    def resume(self) -> None:
        size, workers = self.args.size, self.args.resume_workers
        parts = -(-size // self.part)
        if size <= self.part:  # at or below the multipart threshold: one PUT, nothing to resume
            print(f"\nresume skipped: --size {size:,} goes up in one PUT (parts of {self.part:,} bytes)")
            return
        heading(f"Resume: a push of {size / MiB:,.0f} MiB ({parts} parts) SIGKILLed at {parts // 2} answered "
                f"parts, then pushed again ({workers} workers)")
        source = random_file(self.tmp / "resumed.bin", size)
        home, client, sent = self.machine("resumer", workers)
        log = self.tmp / "killed.log"
        killed = subprocess.run([sys.executable, "-c", KILLED_PUSH, str(home), self.url, str(source),
                                 f"{USER}/resumed", str(parts), str(workers), str(log)],
                                capture_output=True, timeout=3600, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if killed.returncode != -signal.SIGKILL:
            raise RuntimeError(f"the killed push exited with {killed.returncode}: {killed.stderr.decode()[-2000:]}")
        events = [line.split() for line in log.read_text().splitlines() if len(line.split()) == 2]
        started = {int(n) for kind, n in events if kind == "start"}
        answered = {int(n) for kind, n in events if kind == "done"}
        elapsed = timed(lambda: Package().set("big.bin", source).push(f"{USER}/resumed", self.url, client=client))
        source.unlink()
        again = [r for r in puts(sent) if "partNumber=" in r.url]
        resent = [r for r in again if int(r.url.split("partNumber=")[1].split("&")[0]) in started]
        resent_bytes = sent_bytes(resent)
        share = resent_bytes / size
        ok = share <= RESENT_GOAL
        table(["killed push: parts answered", "started, unanswered (in flight)", "second push: parts sent",
               "second push MiB", "of them re-sent (started before)", "re-sent MiB", "re-sent / file", "goal",
               "result"],
              [[len(answered), len(started - answered), len(again), f"{sent_bytes(again) / MiB:,.1f}", len(resent),
                f"{resent_bytes / MiB:,.1f}", f"{share:.1%}", f"<= {RESENT_GOAL:.0%}", "PASS" if ok else "MISS"]])
        print(f"second push {seconds(elapsed)} s; re-sent = parts the killed push had started (its log of "
              f"requests' sends) that the second push sent again", flush=True)
        self.summary.add("resume", f"bytes re-sent after a SIGKILL at 50% ({workers} workers, {parts} parts)",
                         f"{share:.1%} ({len(resent)} parts)", f"<= {RESENT_GOAL:.0%}", ok)
        # A part in flight at the kill may have reached S3 whole (its answer never came back): the
        # registry lists it as done, so the second push rightly skips it.
        if set(range(1, parts + 1)) - started - {int(r.url.split("partNumber=")[1].split("&")[0]) for r in again}:
            self.summary.add("resume", "every part sent by one of the two pushes", "no", "yes", False)

    # 3. An s3:// source bigger than one copy part: copied in parts inside S3, then hashed

    def s3_import(self) -> None:
        size, part = self.args.size, self.args.copy_part_mib * MiB
        heading(f"s3:// import of a {size / MiB:,.0f} MiB object in {-(-size // part)} copy parts of "
                f"{part // MiB} MiB vs boto3 copy + one hashing read")
        self.boto3.create_bucket(Bucket=LAKE)
        source = random_file(self.tmp / "lake.bin", size)
        self.boto3.upload_file(str(source), LAKE, "raw/lake.bin",
                               Config=TransferConfig(multipart_threshold=self.part, multipart_chunksize=self.part))
        source.unlink()
        _, client, sent = self.machine("importer")
        ours = timed(lambda: Package().set("lake.bin", f"s3://{LAKE}/raw/lake.bin").push(
            f"{USER}/lake", self.url, client=client))
        if sent:
            raise RuntimeError("the import sent blob requests from the client")

        def baseline():  # what the registry must do at least: copy it in parts, read it once
            self.boto3.copy({"Bucket": LAKE, "Key": "raw/lake.bin"}, BUCKET, "boto3/lake.bin",
                            Config=TransferConfig(multipart_threshold=part, multipart_chunksize=part,
                                                  max_concurrency=4))
            digest = hashlib.sha256()
            for chunk in self.boto3.get_object(Bucket=BUCKET, Key="boto3/lake.bin")["Body"].iter_chunks(MiB):
                digest.update(chunk)
        theirs = timed(baseline)
        table(["SDK push of the s3:// source s", "boto3 copy + read s", "ours / baseline time", "client blob requests"],
              [[seconds(ours), seconds(theirs), ratio(ours / theirs), len(sent)]])
        print("The registry reads the source once (its SHA-256 and each part's: S3 keeps only a composite "
              "checksum of a copy in parts), then copies the parts with S3 computing each one's SHA-256, "
              "which it checks; the baseline's copy computes no checksum.", flush=True)
        self.summary.add("s3 import", f"{size / MiB:,.0f} MiB in {part // MiB} MiB copy parts: seconds, "
                         "vs boto3 copy + read", f"{seconds(ours)} s ({ratio(ours / theirs)})", "completes", True)

    # 4. Many tiny files, then the same package with one file changed

    def small_files(self) -> None:
        n = self.args.small_files
        heading(f"{n:,} small files (8-100 bytes, folders of 1,000): a push, then again with one file changed")
        folder = self.tmp / "small"
        for i in range(n):
            path = folder / f"d{i // 1000}" / f"f{i}.bin"
            if i % 1000 == 0:
                path.parent.mkdir(parents=True)
            path.write_bytes(os.urandom(8 + i % 93))
        _, client, sent = self.machine("small")
        rows = []
        for label, expected_puts in (("first push", n), ("one file changed", 1)):
            if expected_puts == 1:
                (folder / "d0" / "f0.bin").write_bytes(os.urandom(50))
            sent.clear()
            elapsed = timed(lambda: Package().set_dir("", folder).push(f"{USER}/small", self.url, client=client))
            heads, put_count = sum(r.method == "HEAD" for r in sent), len(puts(sent))
            ok = heads == 0 and put_count == expected_puts
            rows.append([label, seconds(elapsed), f"{n / elapsed:,.0f}", heads, f"{put_count:,}", "0",
                         f"{expected_puts:,}", "PASS" if ok else "MISS"])
            self.summary.add("small files", f"{label}, {n:,} files: HEADs, PUTs ({seconds(elapsed)} s)",
                             f"{heads} HEAD, {put_count:,} PUT", f"0 HEAD, {expected_puts:,} PUT", ok)
        shutil.rmtree(folder)
        table(["push", "seconds", "files/s", "HEADs", "PUTs", "HEAD goal", "PUT goal", "result"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=size_arg, default=GiB, help="the big file (default 1GiB)")
    parser.add_argument("--big-size", type=size_arg, default=0, help="also a round trip of this size (e.g. 6GiB)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of the --size round trip (3)")
    parser.add_argument("--small-files", type=int, default=100_000, help="files of the small-files push (100000)")
    parser.add_argument("--part-mib", type=int, default=64, help="REGISTRY_UPLOAD_PART_BYTES and multipart threshold")
    parser.add_argument("--copy-part-mib", type=int, default=256,
                        help="REGISTRY_S3_COPY_PART_BYTES of the s3:// import step (256; production 5 GiB)")
    parser.add_argument("--workers", type=int, default=8, help="SDK workers and boto3 max_concurrency (8)")
    parser.add_argument("--resume-workers", type=int, default=2, help="SDK workers of the killed push (2)")
    parser.add_argument("--only", default="", help="run only these steps: round-trip,resume,s3-import,"
                                                   "small-files,big-round-trip (comma-separated)")
    parser.add_argument("--database-url", default="mysql+pymysql://root@127.0.0.1:3306/")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # the cleanup below runs on SIGTERM too
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="registry-transfer-"))
    try:
        with contextlib.ExitStack() as stack:
            bench = Bench(args, tmp, stack)
            steps = [("round trip", lambda: bench.round_trip(args.size, "big", args.repeat)), ("resume", bench.resume),
                     ("s3 import", bench.s3_import),
                     ("small files", bench.small_files)]
            if args.big_size:
                steps.append(("big round trip", lambda: bench.round_trip(args.big_size, "bigger", 1)))
            for name, step in steps:
                if args.only and name.replace(" ", "-") not in args.only.split(","):
                    continue
                try:
                    step()
                except Exception as exc:  # noqa: BLE001 - report it, go on with the next step
                    print(f"\n{name} failed:\n{traceback.format_exc()}", flush=True)
                    bench.summary.error(name, exc)
            heading("Summary")  # scale_report's Summary, without its `original` column (none here)
            rows = [[row[0], row[1], row[2], row[4], row[5]] for row in bench.summary.rows]
            table(["section", "figure", "ours", "goal", "result"], rows)
            results = [row[-1] for row in rows]
            print(f"{results.count('PASS')} PASS, {results.count('MISS')} MISS")
            print(f"\ntotal run time {time.perf_counter() - started:.0f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: everything started was stopped and the database dropped")

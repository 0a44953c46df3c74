"""A throwaway MariaDB server of a test's own (data directory, socket and port), for tests that
stop, freeze or restart the database, which they must never do to the shared one.

    with MariaDBServer(tmp_path) as server:
        url = server.url("registry")   # mysql+pymysql://root@127.0.0.1:PORT/registry
        server.freeze(); server.thaw(); server.restart()

Binds to 127.0.0.1 only, with grant tables skipped (root, no password): it holds test data for
the length of one test and nothing else can reach it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pymysql

from tests.support.live_server import free_port

START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").is_file() else None)
        if found:
            return found
    raise RuntimeError(f"none of {', '.join(names)} is installed (apt-get install mariadb-server)")


class MariaDBServer:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.datadir = self.workdir / "data"
        self.socket = self.workdir / "mysqld.sock"
        self.log_path = self.workdir / "mariadb.log"
        self.port = free_port()
        self._proc: subprocess.Popen | None = None

    def url(self, database: str = "") -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> "MariaDBServer":
        if self._proc is not None:
            raise RuntimeError("MariaDB already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.datadir.exists():
            self._install()
        command = [_binary("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.datadir}",
                   f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
                   f"--pid-file={self.workdir / 'mysqld.pid'}", f"--log-error={self.log_path}",
                   "--skip-grant-tables", "--skip-name-resolve", "--skip-log-bin",
                   "--innodb-buffer-pool-size=64M", "--character-set-server=utf8mb4",
                   "--collation-server=utf8mb4_bin"]
        if os.geteuid() == 0:
            command.append("--user=root")  # mariadbd refuses to run as root unless told to
        atexit.register(self.stop)
        self._proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _install(self) -> None:
        command = [_binary("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={self.datadir}",
                   "--auth-root-authentication-method=normal", "--skip-test-db"]
        if os.geteuid() == 0:
            command.append("--user=root")
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{result.stdout}\n{result.stderr}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self._proc.returncode}:\n{self.log_tail()}")
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=2,
                                read_timeout=5).close()
                return
            except pymysql.MySQLError as exc:
                last_error = exc
                time.sleep(0.2)
        raise RuntimeError(f"MariaDB not ready after {START_TIMEOUT:.0f} s ({last_error!r}):\n{self.log_tail()}")

    def execute(self, statement: str) -> None:
        with pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=5,
                             read_timeout=30) as connection:
            connection.cursor().execute(statement)

    def freeze(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing answers (a hung server)."""
        os.kill(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self._proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), or SIGKILL if it does not finish in time."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGCONT)  # a frozen server cannot shut down
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def restart(self) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "MariaDBServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

"""`registry serve` (gunicorn) in a subprocess on a loopback port, configured only through
REGISTRY_* variables, the way an operator runs it."""

from __future__ import annotations

import atexit
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from registry import Settings

START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def settings_env(settings: Settings) -> dict[str, str]:
    env = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        env["REGISTRY_" + field.name.upper()] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return env


class LiveRegistry:
    def __init__(self, settings: Settings, log_path: Path, extra_env: dict[str, str] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, **settings_env(settings), **(extra_env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> "LiveRegistry":
        command = [sys.executable, "-m", "registry", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                   "--workers", "2"]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        atexit.register(self.stop)  # even if the test run is interrupted before the fixture's teardown
        try:
            return self._wait_until_healthy()
        except BaseException:
            self.stop()  # never leave a server behind when start-up fails, whatever the failure
            raise

    def _wait_until_healthy(self) -> "LiveRegistry":
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"registry serve exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/healthcheck", timeout=2).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # a worker still booting on a busy machine
                pass
            time.sleep(0.2)
        raise RuntimeError(f"registry serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)  # gunicorn shuts down gracefully on TERM
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> "LiveRegistry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def web_login_code(url: str, username: str, password: str) -> str:
    """Sign in on /login like a person in a browser and read the one-time code off the page."""
    import re

    session = requests.Session()
    form = session.get(f"{url}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    page = session.post(f"{url}/login", data={"username": username, "password": password, "csrf_token": token},
                        timeout=10)
    page.raise_for_status()
    return re.search(r'<output id="login-code"[^>]*>([^<]+)</output>', page.text).group(1)

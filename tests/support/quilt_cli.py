"""Build and drive the real ``quilt==2.9.15`` client for end-to-end tests.

The registry has to stay wire-compatible with that published client, so the
e2e tests run the genuine article in its own virtual environment instead of
imitating its requests.

Typical use::

    venv = ensure_quilt_venv(repo_root / ".cache")
    alice = QuiltClient(venv, tmp_path / "alice", registry_url)
    alice.login(code)
    alice.build_raw("alice/pkg", folder)
    alice.run("push", "alice/pkg", "--public")

Each ``QuiltClient`` is one "machine": the client keeps its config, auth and
local package store under ``appdirs.user_data_dir("QuiltCli", "QuiltData")``,
which on Linux is ``$XDG_DATA_HOME/QuiltCli``, so a separate XDG_DATA_HOME is
a separate machine.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

QUILT_VERSION = "2.9.15"

# Why each pin (checked on CPython 3.11.7):
# - pandas 2.x removed DataFrame.iteritems(), which `quilt build` calls on every CSV.
# - pandas 1.5.3 is compiled against the NumPy 1.x ABI; NumPy 2 breaks it.
# - recent pyarrow (e.g. 26) refuses NumPy 1.x at import time. quilt only imports
#   pyarrow lazily, when it stores a DataFrame, so `import quilt` alone would not
#   notice. <15 is known good (resolves to 14.0.2); 15.0.2 also worked.
# - quilt imports pkg_resources at start-up, which recent setuptools no longer ship
#   (84.x has none); the venv's bundled 65.5 is fine, the pin keeps it there.
PINS = (
    f"quilt=={QUILT_VERSION}",
    "pandas==1.5.3",
    "numpy<2",
    "pyarrow<15",
    "setuptools<70",
)

# quilt 2.9.15 does `from collections import Iterable` (and friends), which
# Python 3.10 removed. sitecustomize runs at interpreter start-up inside the
# venv, so it puts the old names back before quilt is imported.
SITECUSTOMIZE = '''\
"""Aliases collections.abc names onto collections for quilt 2.9.15 (Python 3.10+)."""
import collections
import collections.abc

for _name in collections.abc.__all__:
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
'''

# `quilt login` runs `xdg-open <url>`. This stand-in, first on PATH, makes sure
# no browser opens on a developer's desktop and no "Failed to launch" noise
# appears where xdg-open is missing.
XDG_OPEN_STUB = "#!/bin/sh\nexit 0\n"

# Everything that decides what is in the venv: a change here rebuilds it.
_FINGERPRINT = hashlib.sha256(
    "\n".join((*PINS, SITECUSTOMIZE, XDG_OPEN_STUB, sys.version, sys.base_prefix)).encode()
).hexdigest()

# Fails if the pins do not fit together: pyarrow.parquet is what actually trips
# over a NumPy mismatch, and quilt.tools.main is what the console script loads.
_SMOKE_TEST = "import quilt, quilt.tools.main, pandas, numpy, pyarrow.parquet"

# Variables from the caller's environment that would change how the client behaves.
_SCRUBBED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "QUILT_PKG_URL",
    "QUILT_PRIMARY_PACKAGE_DIR",  # overrides the package store location
    "QUILT_PACKAGE_DIRS",  # extra stores searched for installed packages
    "QUILT_DEV_MODE",
    "QUILT_TEST_CLI_SUBPROC",  # makes the CLI use quilt's own mocks
    "QUILT_PARQUET_LIBRARY",
)


def venv_name() -> str:
    """Directory name of the client venv, e.g. ``quilt-2.9.15-py311``."""
    return f"quilt-{QUILT_VERSION}-py{sys.version_info.major}{sys.version_info.minor}"


def ensure_quilt_venv(cache_dir: Path) -> Path:
    """Create (once) the venv holding quilt 2.9.15 and return its directory.

    Safe to call from several pytest-xdist workers at once: they serialise on
    an flock, and the first builds while the others wait. The marker is
    written only after the smoke test passed, so a half-built venv (killed
    run, failed install) is thrown away and built again.
    """
    cache_dir = Path(cache_dir).resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    venv = cache_dir / venv_name()
    marker = venv / ".quilt-ready"

    with open(cache_dir / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            # bin/python is a symlink to the base interpreter: if that moved,
            # exists() is False and the venv is rebuilt.
            if (
                marker.is_file()
                and marker.read_text() == _FINGERPRINT
                and (venv / "bin" / "python").exists()
            ):
                return venv
            _build_venv(venv)
            marker.write_text(_FINGERPRINT)
            return venv
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_venv(venv: Path) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env["PYTHONNOUSERSITE"] = "1"
    python = str(venv / "bin" / "python")

    def step(*cmd: str) -> str:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(
                f"building the quilt venv failed at {cmd!r} (exit {proc.returncode})\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        return proc.stdout

    step(sys.executable, "-m", "venv", str(venv))
    step(python, "-m", "pip", "install", "--quiet", "--no-input",
         "--disable-pip-version-check", *PINS)
    site_packages = step(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(site_packages.strip()) / "sitecustomize.py").write_text(SITECUSTOMIZE)
    xdg_open = venv / "bin" / "xdg-open"
    xdg_open.write_text(XDG_OPEN_STUB)
    xdg_open.chmod(0o755)
    step(python, "-c", _SMOKE_TEST)


def _merge_no_proxy(current: str | None) -> str:
    hosts = [h for h in (current or "").split(",") if h]
    for host in ("127.0.0.1", "localhost", "::1"):
        if host not in hosts:
            hosts.append(host)
    return ",".join(hosts)


class QuiltClient:
    """One client machine: its own quilt config, auth and package store under ``home``."""

    def __init__(self, venv: Path, home: Path, registry_url: str):
        self.venv = Path(venv)
        self.home = Path(home).resolve()
        self.registry_url = registry_url.rstrip("/")
        for sub in ("data", "config", "cache"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)

        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        no_proxy = _merge_no_proxy(env.get("NO_PROXY") or env.get("no_proxy"))
        env.update(
            HOME=str(self.home),  # nothing may touch the real ~ either
            XDG_DATA_HOME=str(self.home / "data"),
            XDG_CONFIG_HOME=str(self.home / "config"),
            XDG_CACHE_HOME=str(self.home / "cache"),
            QUILT_PKG_URL=self.registry_url,
            BROWSER="true",
            VIRTUAL_ENV=str(self.venv),
            PATH=os.pathsep.join([str(self.venv / "bin"), env.get("PATH", os.defpath)]),
            PYTHONNOUSERSITE="1",
            PYTHONUNBUFFERED="1",  # keeps prompt text and output in order
            PYTHONIOENCODING="utf-8",  # `quilt inspect` draws a tree with box characters
            NO_PROXY=no_proxy,  # requests honours proxies; the registry is local
            no_proxy=no_proxy,
        )
        self.env = env

    # -- where this machine keeps things --------------------------------------

    @property
    def data_dir(self) -> Path:
        """``$XDG_DATA_HOME/QuiltCli``: config.json, auth.json and the package store."""
        return self.home / "data" / "QuiltCli"

    @property
    def store_dir(self) -> Path:
        """Local package store (``pkgs/Quilt/<owner>/<pkg>``, ``objs/<sha256>``)."""
        return self.data_dir / "quilt_packages"

    @property
    def auth_file(self) -> Path:
        """Written by login: ``{registry_url: {refresh_token, access_token, expires_at, team}}``."""
        return self.data_dir / "auth.json"

    # -- running the client ---------------------------------------------------

    def run(self, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``quilt *args``. Without ``input``, stdin is empty, so an unexpected
        prompt fails with EOFError instead of hanging the test."""
        return self._exec([str(self.venv / "bin" / "quilt"), *map(str, args)],
                          input=input, check=check, timeout=timeout, cwd=cwd)

    def python(self, code: str, *args: str, input: str | None = None, check: bool = True,
               timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``python -c code *args`` in the client venv (``sys.argv[1:] == args``)."""
        return self._exec([str(self.venv / "bin" / "python"), "-c", code, *map(str, args)],
                          input=input, check=check, timeout=timeout, cwd=None)

    def _exec(self, cmd: list[str], *, input: str | None, check: bool, timeout: float,
              cwd: Path | None) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            cmd,
            input=input,
            stdin=subprocess.DEVNULL if input is None else None,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=self.env,
            # Relative paths and the default export target land inside this machine.
            cwd=str(cwd or self.home),
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{shlex.join(cmd)} exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        return proc

    # -- logging in -----------------------------------------------------------

    def login(self, code: str, **kwargs) -> subprocess.CompletedProcess:
        """``quilt login``, answering "Enter the code from the webpage: " on stdin
        (the prompt is a plain input(), no TTY needed). POSTs the code to /api/token."""
        return self.run("login", input=f"{code}\n", **kwargs)

    def login_with_token(self, code: str, **kwargs) -> subprocess.CompletedProcess:
        """The same exchange through the Python API, ``quilt.login_with_token``."""
        return self.python("import sys, quilt; quilt.login_with_token(sys.argv[1])", code, **kwargs)

    # -- teams ----------------------------------------------------------------

    def config_team(self, team: str, url: str | None = None) -> None:
        """What ``quilt config TEAM`` writes, without its prompt: ``team_id`` and
        ``team_registry_url`` in config.json (other keys kept). The client then sends
        every ``TEAM:`` command, ``quilt login TEAM`` and ``quilt user ... TEAM`` to
        ``url`` (default: this machine's registry) instead of
        ``https://TEAM-registry.team.quiltdata.com``; QUILT_PKG_URL is not consulted for
        teams. Team ids must match ``^[a-z]+$``."""
        config_file = self.data_dir / "config.json"
        config = json.loads(config_file.read_text()) if config_file.exists() else {}
        config.update(team_id=team, team_registry_url=(url or self.registry_url).rstrip("/"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config_file.write_text(json.dumps(config))

    def login_team(self, team: str, code: str, **kwargs) -> subprocess.CompletedProcess:
        """``quilt login TEAM`` (after ``config_team``): auth.json then records
        ``"team": TEAM``, which ``quilt audit`` and ``quilt search`` look for. The client
        refuses a team login next to a public one, so use a machine of its own."""
        return self.run("login", team, input=f"{code}\n", **kwargs)

    # -- packages -------------------------------------------------------------

    def build(self, handle: str, folder: Path, **kwargs) -> subprocess.CompletedProcess:
        """Plain ``quilt build handle folder``.

        quilt infers a transform per file: .csv/.tsv/.ssv/.xls/.xlsx and .parquet
        become DataFrames stored as Parquet (exported back through pandas, so not
        byte-identical); everything else is kept as raw bytes. Names starting
        with "." and a top-level build.yml are skipped.
        """
        return self.run("build", handle, str(folder), **kwargs)

    def build_raw(self, handle: str, folder: Path, **kwargs) -> subprocess.CompletedProcess:
        """Build ``folder`` so that every file stays byte-identical on export.

        Writes a build file with ``transform: id`` at the top of ``contents``
        (inherited by every node) and builds from it. quilt resolves ``file:``
        paths against the build file's directory, so the build file sits in a
        scratch directory of symlinks to the folder's entries: the recorded
        paths match the originals and the folder itself is never written to.
        Node names come from quilt's own generate_contents(), as with ``build``.
        """
        folder = Path(folder).resolve()
        with tempfile.TemporaryDirectory(dir=self.home, prefix="build-raw-") as scratch:
            for entry in folder.iterdir():
                (Path(scratch) / entry.name).symlink_to(entry)
            build_file = Path(scratch) / ".quilt-build-raw.yml"
            self.python(
                "import sys, yaml\n"
                "from quilt.tools.build import generate_contents\n"
                "src, out = sys.argv[1:]\n"
                "data = generate_contents(src, outfilename=out.rsplit('/', 1)[-1])\n"
                "data['contents']['transform'] = 'id'\n"
                "with open(out, 'w') as fd:\n"
                "    yaml.safe_dump(data, fd)\n",
                scratch, str(build_file),
            )
            return self.run("build", handle, str(build_file), **kwargs)

    def export(self, handle: str, dest: Path, force: bool = False,
               **kwargs) -> subprocess.CompletedProcess:
        """``quilt export handle dest``: writes each file node under its original
        relative path. Fails if a target exists unless ``force``."""
        args = ["export", handle, str(dest)] + (["--force"] if force else [])
        return self.run(*args, **kwargs)

    def local_hash(self, handle: str) -> str:
        """The tophash that local tag ``latest`` of ``owner/pkg`` names: what the last
        build or install of that package on this machine wrote."""
        owner, pkg = handle.split("/")[:2]
        return (self.store_dir / "pkgs" / "Quilt" / owner / pkg / "tags" / "latest").read_text().strip()

    def delete(self, handle: str, **kwargs) -> subprocess.CompletedProcess:
        """``quilt delete handle`` on the registry, retyping the name at its prompt."""
        return self.run("delete", handle, input=f"{handle}\n", **kwargs)

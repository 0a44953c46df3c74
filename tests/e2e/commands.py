"""Shared pieces of the end-to-end tests with the published quilt 2.9.15 client: the accounts,
the package every scenario starts from, client "machines", and helpers that run a command and
return what it printed."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

from tests.support.live_server import web_login_code
from tests.support.quilt_cli import QuiltClient

TEAM = "acme"  # any ^[a-z]+$ id; config.json points it at the live registry
ACCOUNTS = {  # name: (password, e-mail, is_admin)
    "alice": ("alice's password", "alice@example.com", False),
    # No e-mail, as `registry users create` allows: `quilt user list` must still print bob.
    "bob": ("bob's password", None, False),
    "admin": ("the admin's password", "admin@example.com", True),
}

# The package every scenario starts from. `quilt build` keeps README.md and the .txt files as
# raw bytes and turns data.csv into a DataFrame (stored as Parquet).
FILES = {
    "README.md": "# Demo package\n\nFirst version.\n",
    "data.csv": "id,value\n1,a\n2,b\n",
    "sub/notes.txt": "nested\n",
    "sub/deeper/empty.txt": "",
}
INSPECTED_TREE = [  # `quilt inspect` of FILES, after its first line (the local package path)
    "├── README",
    "├── data: shape (2, 2), types 'id': int64, 'value': object",
    "└─┬ sub",
    "  ├─┬ deeper",
    "  │ └── empty",
    "  └── notes",
]
NOT_LOGGED_IN = "Authentication failed. Run `quilt login` again."
VERSION_PROMPT = "Versions cannot be modified or deleted; are you sure? (y/n) "
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


class Machines:
    """Client machines for one test, each with its own config, auth and package store."""

    def __init__(self, venv: Path, root: Path, url: str):
        self.venv, self.root, self.url = venv, root, url

    def anonymous(self, label: str = "anonymous") -> QuiltClient:
        return QuiltClient(self.venv, self.root / label, self.url)

    def signed_in(self, user: str, label: str | None = None) -> QuiltClient:
        """`quilt login` as `user` on the public (non-team) registry URL."""
        client = self.anonymous(label or user)
        client.login(web_login_code(self.url, user, ACCOUNTS[user][0]))
        return client

    def team_member(self, user: str, label: str | None = None) -> QuiltClient:
        """`quilt login acme` as `user`, with team acme configured to be the live registry."""
        client = self.anonymous(label or f"{user}-{TEAM}")
        client.config_team(TEAM, self.url)
        client.login_team(TEAM, web_login_code(self.url, user, ACCOUNTS[user][0]))
        return client

# -- helpers --------------------------------------------------------------------------------


def ok(client: QuiltClient, *args: str, input: str | None = None) -> list[str]:
    """Run a command that must succeed; its stdout lines."""
    return client.run(*args, input=input).stdout.splitlines()


def error_of(client: QuiltClient, *args: str, input: str | None = None) -> str:
    """Run a command that must fail; the message it ends with (the last line of stderr)."""
    proc = client.run(*args, input=input, check=False)
    assert proc.returncode == 1, f"quilt {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    assert proc.stderr.strip(), f"quilt {' '.join(args)} failed without a message:\n{proc.stdout}"
    return proc.stderr.splitlines()[-1]


def write_tree(folder: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


def publish(client: QuiltClient, handle: str, folder: Path, *flags: str) -> str:
    """`quilt build` and `quilt push` (with `flags`); the pushed tophash."""
    client.build(handle, folder)
    lines = ok(client, "push", *flags, handle)
    assert lines[0] == "Fetching upload URLs from the registry..."
    assert lines[-4:-1] == ["Uploading package metadata...", "Updating the 'latest' tag...",
                            f"Push complete. {handle} is live:"]
    assert lines[-1].endswith(f"/package/{handle}")
    return client.local_hash(handle)


def install(client: QuiltClient, handle: str, *args: str) -> str:
    """`quilt install -f handle args`; the tophash now installed (after the client checked it)."""
    lines = ok(client, "install", "-f", handle, *args)
    assert lines[0] == "Downloading package metadata..."
    return client.local_hash(handle)


def sha256_hex(text: str) -> str:
    """Object hash of a file kept as raw bytes (transform `id`)."""
    return hashlib.sha256(text.encode()).hexdigest()


def exported_files(folder: Path) -> dict[str, str]:
    """{relative path: text} of every file `quilt export` wrote. data.csv comes back through
    pandas, which writes FILES' simple CSV back unchanged."""
    return {str(path.relative_to(folder)): path.read_text() for path in folder.rglob("*") if path.is_file()}


def table(lines: list[str]) -> list[dict[str, str]]:
    """Rows of a table printed by the client (columns left-justified under a header line)."""
    header, *rows = lines
    names, starts, position = header.split(), [], 0
    for name in names:
        position = header.index(name, position)
        starts.append(position)
        position += len(name)
    bounds = list(zip(starts, starts[1:] + [None]))
    return [{name: row[start:end].strip() for name, (start, end) in zip(names, bounds)} for row in rows]


def pushed_at(text: str) -> datetime:
    """A `Pushed`/`Time` cell (local time, seconds) that must be a recent moment."""
    assert TIMESTAMP.match(text), text
    moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    assert abs(datetime.now() - moment) < timedelta(minutes=10), text
    return moment


def log_of(client: QuiltClient, handle: str) -> list[tuple[str, str, str, str]]:
    """`quilt log handle` as (hash, author, tags, versions) rows, newest first. The client prints
    a missing list as `None` and an empty one as `[]`; the protocol allows both, so both read
    `None` here."""
    lines = ok(client, "log", handle)
    assert lines[0].split() == ["Hash", "Pushed", "Author", "Tags", "Versions"]
    rows = table(lines)
    times = [pushed_at(row["Pushed"]) for row in rows]
    assert times == sorted(times, reverse=True), "log rows must be newest first"

    def listed(cell: str) -> str:
        return "None" if cell == "[]" else cell

    return [(row["Hash"], row["Author"], listed(row["Tags"]), listed(row["Versions"])) for row in rows]


def user_list(admin: QuiltClient) -> dict[str, tuple[str, str, str]]:
    """`quilt user list acme` as {name: (email, active, superuser)}."""
    lines = ok(admin, "user", "list", TEAM)
    assert lines[0].split() == ["Name", "Email", "Active", "Superuser"]
    return {row["Name"]: (row["Email"], row["Active"], row["Superuser"]) for row in table(lines)}


def audit(admin: QuiltClient, subject: str) -> list[tuple[str, str, str]]:
    """`quilt audit subject` as sorted (user, package, type) rows (the protocol leaves the order open)."""
    lines = ok(admin, "audit", subject)
    assert lines[0].split() == ["Time", "User", "Package", "Type"]
    rows = table(lines)
    for row in rows:
        pushed_at(row["Time"])
    return sorted((row["User"], row["Package"], row["Type"]) for row in rows)


def python_json(client: QuiltClient, expression: str):
    """The value of a quilt Python API expression, through JSON."""
    return json.loads(client.python(f"import json, quilt\nprint(json.dumps({expression}))").stdout)


# -- scenarios ------------------------------------------------------------------------------

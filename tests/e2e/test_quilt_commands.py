"""Every registry command of the published quilt 2.9.15 client, end to end, against a live
registry (gunicorn) on both databases and both blob stores.

Each test is one scenario on a fresh server:

- history: two pushes, then `log`, `tag add/list/remove`, `version add/list`, and `install`
  by version, tag, full and short hash and subpath; `inspect` and `export` of what came down;
- sharing: `access add/list/remove` for a user, `public` and `team`, `push --public`,
  `push --team`, and the refusals (a stranger's install, a push to someone else's package,
  an anonymous `access list`);
- a subpackage push (merged into `latest` by the server), `search` and `delete`;
- administration through a team login: `user list/create/disable/enable/reset-password/
  delete`, `audit` of a package and of a user, `quilt.list_users_detailed` and
  `quilt.list_packages` (both databases, local blob store only).

Users are created directly in the test database; each client "machine" signs in with a one-time
code from the /login page, like a person would. Commands that succeed must exit 0 and print the
lines given here; commands that fail must exit 1 with the server's `message` as the last line
of stderr (the client prints nothing else there for an HTTP error).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from registry.db import make_engine, make_session_factory
from registry.services import users
from tests.conftest import ROOT
from tests.support.live_server import LiveRegistry, web_login_code
from tests.support.quilt_cli import QuiltClient, ensure_quilt_venv

pytestmark = pytest.mark.e2e

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


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def quilt_venv():
    return ensure_quilt_venv(ROOT / ".cache")


@pytest.fixture
def live(storage_settings, tmp_path):
    engine = make_engine(storage_settings.effective_database_url)
    with make_session_factory(engine)() as session:
        for name, (password, email, is_admin) in ACCOUNTS.items():
            users.create_user(session, name, password=password, email=email, is_admin=is_admin)
        session.commit()
    engine.dispose()
    with LiveRegistry(storage_settings, tmp_path / "server.log") as server:
        yield server


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


@pytest.fixture
def machines(quilt_venv, tmp_path, live):
    return Machines(quilt_venv, tmp_path / "machines", live.url)


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


def test_log_tags_versions_and_installs_by_reference(machines, tmp_path):
    alice = machines.signed_in("alice")
    first = publish(alice, "alice/demo", write_tree(tmp_path / "v1", FILES))
    second = publish(alice, "alice/demo", write_tree(tmp_path / "v2", {**FILES, "README.md": "# Second\n"}))
    assert first != second
    assert log_of(alice, "alice/demo") == [(second, "alice", "['latest']", "None"),
                                           (first, "alice", "None", "None")]

    # Tags: short hashes are resolved by the client through the log.
    assert ok(alice, "tag", "add", "alice/demo", "mytag", first[:8]) == []
    assert ok(alice, "tag", "list", "alice/demo") == [f"latest: {second}", f"mytag: {first}"]

    # Versions ask for confirmation, and can never be moved.
    assert alice.run("version", "add", "alice/demo", "1.0", first[:10], input="y\n").stdout == VERSION_PROMPT
    assert ok(alice, "version", "list", "alice/demo") == [f"1.0: {first}"]
    assert error_of(alice, "version", "add", "alice/demo", "1.0", second, input="y\n") == "Version already exists"
    assert log_of(alice, "alice/demo") == [(second, "alice", "['latest']", "None"),
                                           (first, "alice", "['mytag']", "['1.0']")]

    # Another machine of alice's installs by subpath, version, tag, full and short hash.
    reader = machines.signed_in("alice", "reader")
    assert install(reader, "alice/demo/sub") == second
    fragments = {path.name for path in (reader.store_dir / "objs").iterdir()}
    assert sha256_hex(FILES["sub/notes.txt"]) in fragments
    assert sha256_hex("# Second\n") not in fragments, "a subpath install downloads only that subtree"
    assert install(reader, "alice/demo", "-v", "1.0") == first
    assert install(reader, "alice/demo", "-t", "mytag") == first
    assert install(reader, "alice/demo", "-x", second) == second
    assert install(reader, "alice/demo", "-x", first[:6]) == first

    assert ok(alice, "tag", "remove", "alice/demo", "mytag") == []
    assert ok(alice, "tag", "list", "alice/demo") == [f"latest: {second}"]
    assert error_of(reader, "install", "-f", "alice/demo", "-t", "mytag") == "Tag 'mytag' does not exist"

    # The local commands work on what came from the registry.
    assert install(reader, "alice/demo") == second
    inspected = ok(reader, "inspect", "alice/demo")
    assert inspected == [str(reader.store_dir / "pkgs" / "Quilt" / "alice" / "demo"), *INSPECTED_TREE]
    exported = tmp_path / "exported"
    reader.export("alice/demo", exported)
    assert exported_files(exported) == {**FILES, "README.md": "# Second\n"}


def test_sharing_private_public_and_team_packages(machines, tmp_path):
    folder = write_tree(tmp_path / "source", FILES)
    alice, bob, anonymous = machines.signed_in("alice"), machines.signed_in("bob"), machines.anonymous()
    demo = publish(alice, "alice/demo", folder)
    bob.build("alice/demo", folder)  # bob's own copy, to try pushing it

    # A private package looks nonexistent to everyone but its owner.
    assert error_of(bob, "install", "alice/nothing") == "Package alice/nothing does not exist"
    assert error_of(bob, "install", "alice/demo") == "Package alice/demo does not exist"
    assert error_of(anonymous, "install", "alice/demo") == \
        "Package alice/demo does not exist (do you need to log in?)"
    assert error_of(anonymous, "access", "list", "alice/demo") == NOT_LOGGED_IN

    # Shared with bob, who may read but not write, then no longer.
    assert ok(alice, "access", "add", "alice/demo", "bob") == ["Access added for bob"]
    assert sorted(ok(alice, "access", "list", "alice/demo")) == ["alice", "bob"]
    assert sorted(ok(bob, "access", "list", "alice/demo")) == ["alice", "bob"]
    assert install(bob, "alice/demo") == demo
    assert error_of(bob, "push", "alice/demo") == "Only the package owner can push private packages."
    assert error_of(bob, "delete", "alice/demo", input="alice/demo\n") == "Only the package owner can delete packages."
    assert ok(alice, "access", "remove", "alice/demo", "bob") == ["Access removed for bob"]
    assert error_of(bob, "install", "alice/demo") == "Package alice/demo does not exist"

    # Shared with every signed-in user, then with everyone.
    assert ok(alice, "access", "add", "alice/demo", "team") == ["Access added for team"]
    assert install(bob, "alice/demo") == demo
    assert error_of(anonymous, "install", "alice/demo") == \
        "Package alice/demo does not exist (do you need to log in?)"
    assert ok(alice, "access", "add", "alice/demo", "public") == ["Access added for public"]
    assert install(anonymous, "alice/demo") == demo
    assert sorted(ok(alice, "access", "list", "alice/demo")) == ["alice", "public", "team"]

    # The same, chosen at the first push.
    public = publish(alice, "alice/x", folder, "--public")
    assert install(anonymous, "alice/x") == public
    team = publish(alice, "alice/y", folder, "--team")
    assert install(bob, "alice/y") == team
    assert error_of(anonymous, "install", "alice/y") == "Package alice/y does not exist (do you need to log in?)"

    # Private again: to strangers it does not exist, for writes as for reads (issue 3 asks for a
    # 404 with a missing package's body on every endpoint; readers still get the owner-only 403s above).
    assert ok(alice, "access", "remove", "alice/demo", "public") == ["Access removed for public"]
    assert ok(alice, "access", "remove", "alice/demo", "team") == ["Access removed for team"]
    assert ok(alice, "access", "list", "alice/demo") == ["alice"]
    assert error_of(anonymous, "install", "alice/demo") == \
        "Package alice/demo does not exist (do you need to log in?)"
    assert error_of(bob, "install", "alice/demo") == "Package alice/demo does not exist"
    assert error_of(bob, "push", "alice/demo") == "Package alice/demo does not exist"
    assert error_of(bob, "delete", "alice/demo", input="alice/demo\n") == "Package alice/demo does not exist"
    bob.build("alice/other", folder)
    assert error_of(bob, "push", "alice/other") == "Package alice/other does not exist"


def test_subpackage_push_search_and_delete(machines, tmp_path):
    alice, anonymous = machines.signed_in("alice"), machines.anonymous()
    base = publish(alice, "alice/demo", write_tree(tmp_path / "v1", FILES))

    # alice changes her local copy everywhere but pushes only sub/new: the server merges that
    # group into the tree tagged `latest` and moves the tag itself.
    alice.build("alice/demo", write_tree(tmp_path / "v2", {
        **FILES, "README.md": "# Not pushed\n", "sub/new/added.txt": "added\n"}))
    lines = ok(alice, "push", "alice/demo/sub/new")
    assert lines[0] == "Fetching upload URLs from the registry..."
    assert lines[-3:-1] == ["Uploading package metadata...", "Push complete. alice/demo/sub/new is live:"]
    log = log_of(alice, "alice/demo")
    merged = log[0][0]
    assert log == [(merged, "alice", "['latest']", "None"), (base, "alice", "None", "None")]
    assert merged not in (base, alice.local_hash("alice/demo"))

    reader = machines.signed_in("alice", "reader")
    assert install(reader, "alice/demo") == merged
    exported = tmp_path / "exported"
    reader.export("alice/demo", exported)
    assert exported_files(exported) == {**FILES, "sub/new/added.txt": "added\n"}

    # Search sees only what the caller may read.
    assert ok(alice, "search", "demo") == ["alice/demo"]
    assert ok(anonymous, "search", "demo") == ["(No results)"]

    # Deleted: the package is gone, and a new push starts afresh.
    deleted = alice.delete("alice/demo")
    assert deleted.stdout == ("Are you sure you want to delete this package and its entire history? "
                              "Type 'alice/demo' to confirm: Deleted.\n")
    assert error_of(reader, "install", "-f", "alice/demo") == "Package alice/demo does not exist"
    assert ok(alice, "search", "demo") == ["(No results)"]
    again = publish(alice, "alice/demo", tmp_path / "v2")
    assert log_of(alice, "alice/demo") == [(again, "alice", "['latest']", "None")]


# Users and audit events live only in the database, so the blob store adds nothing here: the
# local store alone keeps the whole file within about four minutes on two workers.
@pytest.mark.parametrize("storage_settings", ["local"], indirect=True)
def test_administration_through_a_team_login(machines, tmp_path):
    # Something to audit: alice pushes a team package, bob installs it.
    alice, bob = machines.signed_in("alice"), machines.signed_in("bob")
    demo = publish(alice, "alice/demo", write_tree(tmp_path / "source", FILES), "--team")
    assert install(bob, "alice/demo") == demo

    # `quilt audit` and the admin commands need a team login: team acme is this registry.
    member = machines.team_member("alice")
    assert error_of(member, "user", "list", TEAM) == "Must be authenticated as an admin to use this endpoint."
    admin = machines.team_member("admin")
    package = f"{TEAM}:alice/demo"
    assert audit(admin, "alice/demo") == [("alice", package, "PUSH"), ("bob", package, "INSTALL")]
    assert audit(admin, "alice") == [("alice", package, "PUSH")]

    detailed = python_json(admin, f"quilt.list_users_detailed({TEAM!r})")["users"]
    counts = ("packages", "pushes", "installs", "deletes", "status", "is_admin")
    assert {user: {key: detailed[user][key] for key in counts} for user in detailed} == {
        "admin": {"packages": 0, "pushes": 0, "installs": 0, "deletes": 0, "status": "active", "is_admin": True},
        "alice": {"packages": 1, "pushes": 1, "installs": 0, "deletes": 0, "status": "active", "is_admin": False},
        "bob": {"packages": 0, "pushes": 0, "installs": 1, "deletes": 0, "status": "active", "is_admin": False},
    }
    listed = python_json(admin, f"quilt.list_packages('alice', {TEAM!r})")
    assert listed["packages"] == [{"name": "demo", "is_public": False, "is_team": True}]

    # The user commands print nothing on success.
    assert user_list(admin) == {"admin": ("admin@example.com", "True", "True"),
                                "alice": ("alice@example.com", "True", "False"),
                                "bob": ("", "True", "False")}
    assert ok(admin, "user", "create", TEAM, "carol", "carol@example.com") == []
    assert ok(admin, "user", "create", TEAM, "dave", "dave@example.com") == []
    assert user_list(admin)["carol"] == ("carol@example.com", "True", "False")
    assert ok(admin, "user", "disable", TEAM, "carol") == []
    assert user_list(admin)["carol"] == ("carol@example.com", "False", "False")
    assert ok(admin, "user", "enable", TEAM, "carol") == []
    assert user_list(admin)["carol"] == ("carol@example.com", "True", "False")
    assert ok(admin, "user", "reset-password", TEAM, "carol") == []
    assert admin.run("user", "delete", TEAM, "carol", input="y\n").stdout == "Really delete user 'carol'? (y/n)"
    assert ok(admin, "user", "delete", TEAM, "dave", "-f") == []
    assert set(user_list(admin)) == {"admin", "alice", "bob"}

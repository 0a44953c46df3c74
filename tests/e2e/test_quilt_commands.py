"""Every registry command of the published quilt 2.9.15 client, end to end, against a live
registry (gunicorn) on both databases and both blob stores.

Each test is one scenario on a fresh server:

- history: two pushes, then `log`, `tag add/list/remove`, `version add/list`, and `install`
  by version, tag, full and short hash and subpath; `inspect` and `export` of what came down;
- sharing: `access add/list/remove` for a user, `public` and `team`, `push --public`,
  `push --team`, and the refusals (a stranger's install, a push to someone else's package,
  an anonymous `access list`);
- a subpackage push (merged into `latest` by the server), `search` and `delete`;
- administration through a team login is in test_quilt_admin.py.

Users are created directly in the test database; each client "machine" signs in with a one-time
code from the /login page, like a person would. Commands that succeed must exit 0 and print the
lines given here; commands that fail must exit 1 with the server's `message` as the last line
of stderr (the client prints nothing else there for an HTTP error).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from registry.db import make_engine, make_session_factory, utcnow
from registry.models import Instance, Log

from tests.e2e.commands import (
    FILES,
    INSPECTED_TREE,
    NOT_LOGGED_IN,
    VERSION_PROMPT,
    error_of,
    exported_files,
    install,
    log_of,
    ok,
    publish,
    sha256_hex,
    write_tree,
)

pytestmark = pytest.mark.e2e


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


def test_log_longer_than_what_the_registry_reads_at_once(machines, storage_settings, tmp_path):
    """`quilt log` of 2,502 pushes: the registry sends the log as it reads it, 1,000 rows at a
    time (services.keyset), chunked through gunicorn; the client gets every push, in order."""
    alice = machines.signed_in("alice")
    first = publish(alice, "alice/demo", write_tree(tmp_path / "v1", FILES))
    second = publish(alice, "alice/demo", write_tree(tmp_path / "v2", {**FILES, "README.md": "# Second\n"}))
    engine = make_engine(storage_settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:  # 2,500 earlier pushes in the minutes before
            ids = dict(session.execute(select(Instance.hash, Instance.id)).all())
            package_id = session.scalar(select(Instance.package_id).where(Instance.hash == first))
            start = utcnow() - timedelta(minutes=7)
            session.add_all(Log(package_id=package_id, instance_id=ids[(first, second)[number % 2]], author="bob",
                                created_at=start + timedelta(seconds=number / 10), message=f"earlier {number}")
                            for number in range(2_500))
            session.commit()
    finally:
        engine.dispose()
    log = log_of(alice, "alice/demo")  # newest first; log_of checks the order
    assert len(log) == 2_502
    assert log[:2] == [(second, "alice", "['latest']", "None"), (first, "alice", "None", "None")]
    assert [row[:2] for row in log[2:]] == [((second, first)[number % 2 == 0], "bob") for number in range(2_499, -1, -1)]

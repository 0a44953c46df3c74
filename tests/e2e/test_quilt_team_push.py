"""The published quilt 2.9.15 client against the fragment-reuse rule (issue 9, item 3), on both
databases and both blob stores: a team member who holds the same bytes as the owner's private
package uploads his own copy (its HEAD answers 404) and the push succeeds; once the fragments are
in a package he can read he reuses them; `push --reupload` still works for stored fragments."""

from __future__ import annotations

import pytest

from tests.e2e.commands import install, ok, publish, sha256_hex, write_tree

pytestmark = pytest.mark.e2e

# Raw files only: their fragment hashes are the SHA-256 of their text on every machine.
PRIVATE = {"README.md": "# Alice's figures\n", "figures.txt": "1,2,3 (private)\n"}
SKIPPED = " already uploaded; skipping."


def skipped(lines: list[str]) -> set[str]:
    return {line.split()[1] for line in lines if line.endswith(SKIPPED)}


def test_a_team_member_uploads_what_he_may_not_reuse_then_reuses_what_he_may_read(machines, tmp_path):
    alice, bob = machines.signed_in("alice"), machines.signed_in("bob")
    private = write_tree(tmp_path / "private", PRIVATE)
    secret = publish(alice, "alice/secret", private)
    publish(alice, "alice/team", write_tree(tmp_path / "team", {"README.md": "# Team\n"}), "--team")

    bob.build("alice/team", private)
    first = ok(bob, "push", "alice/team")
    assert "Push complete. alice/team is live:" in first
    assert skipped(first) == set(), "nothing tells bob that alice stores these bytes"
    pushed = bob.local_hash("alice/team")
    assert install(alice, "alice/team") == pushed
    assert install(bob, "alice/team") == pushed

    again = ok(bob, "push", "alice/team")
    assert skipped(again) == {sha256_hex(text) for text in PRIVATE.values()}

    # --reupload PUTs even the fragments its HEAD finds: the push still completes.
    assert publish(alice, "alice/secret", private, "--reupload") == secret
    assert install(alice, "alice/secret") == secret

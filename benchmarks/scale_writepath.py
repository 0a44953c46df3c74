"""The registry's database write path as benchmarks/scale.py uses it in-process: seeded history
linked to an instance, and the database part of a commit. Adapt these when the schema or the write
path changes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import text

from registry.db import make_session_factory, utcnow
from registry.models import Instance, Package
from registry.services import blobs, fragment_sets, trees
from scale_stack import OWNER


def link_history(engine, owner: str, after_id: int, now) -> str:
    """Make the seeded blob rows (ids above `after_id`) real history: one more instance of
    OWNER/history holding them, written by the registry's own fragment-set code."""
    with make_session_factory(engine)() as session:
        package = session.query(Package).filter_by(owner=owner, name="history").one_or_none()
        if package is None:
            package = Package(owner=owner, name="history", folded_handle=f"{owner}/history", created_at=now)
            session.add(package)
            session.flush()
            session.execute(text("INSERT INTO access (package_id, principal) VALUES (:p, :o)"),
                            {"p": package.id, "o": owner})
        instance = Instance(package_id=package.id, hash=secrets.token_hex(32), created_at=now, created_by=owner,
                            updated_at=now, updated_by=owner)
        session.add(instance)
        session.flush()
        trees.save(session, instance.id, {"type": "ROOT", "children": {}}, max_bytes=10**9)
        rows = session.execute(text("SELECT id, hash, size FROM `blob` WHERE owner = :o AND id > :i"),
                               {"o": owner, "i": after_id}).all()
        fragment_sets.write(session, instance.id, owner, {h: blobs.Stored(size) for _, h, size in rows},
                            {h: id_ for id_, h, _ in rows})
        session.commit()
    return f"linked to an instance of {owner}/history"



# -- the registry's database write path (adapt this when the write path changes) ----------------

def registry_commit_db(engine, fragments: dict[str, int]) -> None:
    """The registry's own database work for committing a push of `fragments` (hash -> size) of
    OWNER: a Package and an Instance row, the blob rows (`blobs.add_blobs`), the instance's
    fragment set (`fragment_sets.write`: chunks and their links) and the commit."""
    with make_session_factory(engine)() as session:
        name = f"commitdb_{secrets.token_hex(4)}"
        package = Package(owner=OWNER, name=name, folded_handle=f"{OWNER}/{name}")
        session.add(package)
        session.flush()
        now = utcnow()
        instance = Instance(package_id=package.id, hash=hashlib.sha256(name.encode()).hexdigest(),
                            created_at=now, created_by=OWNER, updated_at=now, updated_by=OWNER)
        session.add(instance)
        session.flush()
        rows, ids = blobs.add_blobs(session, OWNER, {h: blobs.Stored(size) for h, size in fragments.items()})
        fragment_sets.write(session, instance.id, OWNER, rows, ids)
        session.commit()


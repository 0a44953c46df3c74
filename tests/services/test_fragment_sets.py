"""Instances keep their fragments in content-defined chunks: a new instance that changes a few
fragments writes a few chunks, reads back exactly its own fragments, and garbage collection
still knows every live fragment. On both databases."""

from __future__ import annotations

import hashlib

from sqlalchemy import delete, func, select

from registry.db import utcnow
from registry.models import Blob, ChunkBlob, FragmentChunk, Instance, InstanceChunk, Package
from registry.services import blobs, fragment_sets
from registry.services.fragment_sets import Stored
from tests.helpers import linked_hashes_by_instance

OWNER = "alice"
COUNT = 20_000


def digest(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def fragments(numbers, *, batches: bool = True) -> dict[str, Stored]:
    """Some in an upload batch (as on S3), unless `batches` is off (a store that keeps none)."""
    return {digest(n): Stored(n % 977 + 1, "b" * 32 if batches and n % 3 == 0 else None) for n in numbers}


def test_chunks_are_cut_by_content_so_a_small_change_touches_few_of_them():
    before = fragment_sets.cut(OWNER, fragments(range(COUNT)))
    after = fragment_sets.cut(OWNER, fragments([*range(10, COUNT), *range(COUNT, COUNT + 10)]))
    assert sum(len(c.hashes) for c in before) == COUNT
    assert 250 < len(before) < 380  # about one in 64 hashes ends a chunk
    assert max(len(c.hashes) for c in before) < 1024
    changed = {c.digest for c in after} - {c.digest for c in before}
    assert len(changed) <= 20, "ten removed and ten added fragments change at most twenty chunks"
    assert dict(fragment_sets.unpack(b"".join(c.records for c in before))) == fragments(range(COUNT))


def test_chunk_digests_belong_to_their_owner():
    same = fragments(range(100))
    assert {c.digest for c in fragment_sets.cut("alice", same)}.isdisjoint(
        c.digest for c in fragment_sets.cut("bob", same))


def _instance(session, package_id: int, n: int) -> int:
    instance = Instance(package_id=package_id, hash=digest(-n), created_by=OWNER, updated_by=OWNER)
    session.add(instance)
    session.flush()
    return instance.id


def _rows(session) -> dict[str, int]:
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Blob, FragmentChunk, ChunkBlob, InstanceChunk)}


def test_a_new_instance_sharing_most_fragments_writes_a_few_rows_and_reads_back_its_own(registry):
    first_set = fragments(range(COUNT))
    second_set = fragments([*range(10, COUNT), *range(COUNT, COUNT + 10)])
    with registry.state.session_factory() as session:
        package = Package(owner=OWNER, name="big", folded_handle="alice/big")
        session.add(package)
        session.flush()
        assert blobs.add_blobs(session, OWNER, first_set)[0] == first_set
        first = _instance(session, package.id, 1)
        fragment_sets.write(session, first, OWNER, first_set)
        fresh = {h: s for h, s in second_set.items() if h not in first_set}
        session.commit()
        before = _rows(session)

        rows, ids = blobs.add_blobs(session, OWNER, fresh)
        second = _instance(session, package.id, 2)
        fragment_sets.write(session, second, OWNER, {**{h: first_set[h] for h in second_set if h in first_set},
                                                     **rows}, ids)
        session.commit()
        added = {table: count - before[table] for table, count in _rows(session).items()}

        assert blobs.instance_fragments(session, first) == first_set
        assert blobs.instance_fragments(session, second) == second_set
        assert linked_hashes_by_instance(session) == {first: set(first_set), second: set(second_set)}
        assert blobs.instance_sizes(session, second, [digest(5), digest(COUNT + 1)]) == {
            digest(COUNT + 1): second_set[digest(COUNT + 1)].size}
    assert added["blob"] == 10
    assert added["fragment_chunk"] <= 20
    # A link per fragment would be 20,000 rows; each changed chunk links its fragments once
    # (about 128: a changed fragment more likely sits in a larger chunk).
    assert added["chunk_blob"] < COUNT // 6
    assert added["instance_chunk"] == len(fragment_sets.cut(OWNER, second_set))


def test_writing_the_same_set_twice_reuses_every_chunk(registry):
    the_set = fragments(range(3000))
    with registry.state.session_factory() as session:
        package = Package(owner=OWNER, name="twice", folded_handle="alice/twice")
        session.add(package)
        session.flush()
        blobs.add_blobs(session, OWNER, the_set)
        fragment_sets.write(session, _instance(session, package.id, 1), OWNER, the_set)
        chunks = session.scalar(select(func.count()).select_from(FragmentChunk))
        links = session.scalar(select(func.count()).select_from(ChunkBlob))
        fragment_sets.write(session, _instance(session, package.id, 2), OWNER, the_set)
        assert session.scalar(select(func.count()).select_from(FragmentChunk)) == chunks
        assert session.scalar(select(func.count()).select_from(ChunkBlob)) == links == 3000
        assert session.scalar(select(func.count()).select_from(InstanceChunk)) == 2 * chunks

"""Instances keep their fragments in content-defined chunks: a new instance that changes a few
fragments writes a few chunks, reads back exactly its own fragments, and garbage collection
still knows every live fragment. On both databases."""

from __future__ import annotations

import hashlib

import pytest

from sqlalchemy import func, select, text

from registry.models import Blob, ChunkBlob, FragmentChunk, Instance, InstanceChunk, Package
from registry.services import blobs, bulk, fragment_sets
from registry.services.fragment_sets import Stored
from tests.helpers import linked_hashes_by_instance, recorded_statements

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


def _cut_record_by_record(owner: str, fragments: dict[str, Stored]) -> list[fragment_sets.Chunk]:
    """The definition `cut` follows (it builds the same in bulk): sorted records, a chunk ends after
    a hash whose last byte is a multiple of CUT_EVERY, or at MAX_CHUNK records."""
    chunks, hashes, records = [], [], b""
    for hash_ in sorted(fragments):
        stored = fragments[hash_]
        hashes.append(hash_)
        records += fragment_sets.RECORD.pack(bytes.fromhex(hash_), stored.size,
                                             bytes.fromhex(stored.batch) if stored.batch else bytes(16))
        if int(hash_[-2:], 16) % fragment_sets.CUT_EVERY == 0 or len(hashes) == fragment_sets.MAX_CHUNK:
            chunks.append(fragment_sets.Chunk(hashlib.sha256(owner.encode() + b"\0" + records).hexdigest(),
                                              hashes, records))
            hashes, records = [], b""
    if hashes:
        chunks.append(fragment_sets.Chunk(hashlib.sha256(owner.encode() + b"\0" + records).hexdigest(), hashes, records))
    return chunks


@pytest.mark.parametrize("numbers", [[], [1], range(3000), "uncut", "uncut, exactly a run", "uncut, two runs"])
@pytest.mark.parametrize("batches", [True, False, "one for all"])
def test_cut_follows_its_definition(numbers, batches):
    uncut = {"uncut": _uncut(2500), "uncut, exactly a run": _uncut(1024), "uncut, two runs": _uncut(2048)}
    chosen = fragments(uncut[numbers] if isinstance(numbers, str) else numbers, batches=bool(batches))
    if batches == "one for all":
        chosen = {h: Stored(s.size, "d" * 32) for h, s in chosen.items()}
    assert fragment_sets.cut(OWNER, chosen) == _cut_record_by_record(OWNER, chosen)


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


def test_blob_ids_are_those_the_database_gave_also_beside_another_pushs_rows(registry):
    """add_blobs knows the ids of the rows it inserted without reading them back on MySQL (see
    blobs._assigned_ids); where another push added some of the same fragments first, in the
    middle of a statement or making a whole statement a no-op, their rows and batches win.
    Every id it answers is the row's, on both databases."""
    wanted = fragments(range(5000), batches=False)
    ordered = sorted(wanted)
    first = {h: Stored(wanted[h].size, "c" * 32) for h in ordered[100:103] + ordered[2000:4000]}
    with registry.state.session_factory() as session:
        blobs.add_blobs(session, OWNER, first)  # "another push", one whole statement of the next
        session.commit()
        with recorded_statements(registry.state.engine) as seen:
            rows, ids = blobs.add_blobs(session, OWNER, wanted)
        session.commit()
        read_back = [statement.count("'") // 2 or len(parameters) - 1 for statement, parameters in seen
                     if statement.replace("`", "").startswith("SELECT blob.id, blob.hash")]
        in_database = {h: (i, Stored(size, batch)) for i, h, size, batch in
                       session.execute(select(Blob.id, Blob.hash, Blob.size, Blob.batch).where(Blob.owner == OWNER))}
    assert ids == {h: in_database[h][0] for h in ordered}
    assert rows == {h: in_database[h][1] for h in ordered}
    assert rows == {**wanted, **first}
    if registry.state.engine.dialect.name == "mysql":  # the third statement (rows 4000-4999) was proven
        assert sum(read_back) == 4000
    else:
        assert sum(read_back) == 5000


def test_statements_whose_ids_follow_on_are_proven_by_one_query(registry):
    """Three INSERT statements that nothing else interleaved with: one aggregate proves all their
    ids; none is read back. The ids are the rows' (both databases)."""
    wanted = fragments(range(5000))
    with registry.state.session_factory() as session:
        with recorded_statements(registry.state.engine) as seen:
            rows, ids = blobs.add_blobs(session, OWNER, wanted)
        session.commit()
        in_database = dict(session.execute(select(Blob.hash, Blob.id).where(Blob.owner == OWNER)).all())
    assert ids == in_database and rows == wanted
    proofs = [statement for statement, _ in seen if "CRC32" in statement]
    assert len(proofs) == (1 if registry.state.engine.dialect.name == "mysql" else 0)


def test_proving_ids_reads_only_their_rows_however_many_the_owner_has(registry):
    """The aggregate that proves a push's ids scans their id range, not the owner's rows: with
    `owner = ?` in its WHERE, MariaDB chose the unique key while it was (owner, hash), which
    covers every column it reads, and walked all of them (here 50,000 rows for a push of
    10,000), so each push cost more the more its owner stored."""
    if registry.state.engine.dialect.name == "sqlite":
        pytest.skip("ids are proven on MariaDB/MySQL only; SQLite's are read back")
    with registry.state.session_factory() as session:
        for start in range(0, 40_000, 10_000):  # history: 40,000 rows of the owner, committed
            blobs.add_blobs(session, OWNER, fragments(range(start, start + 10_000), batches=False))
            session.commit()
        wanted = fragments(range(40_000, 50_000), batches=False)
        _, ids = blobs.add_blobs(session, OWNER, wanted)
        ordered = sorted(wanted)
        first = ids[ordered[0]]
        assert [ids[h] for h in ordered] == list(range(first, first + 10_000))
        weighted = blobs._checksums(ordered, [10_000])[0].weighted
        before = _rows_read(session)
        assert blobs._proven(session, OWNER, first, 10_000, weighted)
        assert _rows_read(session) - before <= 10_001  # the range's rows and one probe
        assert not blobs._proven(session, "bob", first, 10_000, weighted)  # another owner's range
        assert not blobs._proven(session, OWNER, first + 1, 10_000, weighted)  # shifted by one id
        session.rollback()


def _rows_read(session) -> int:
    status = dict(session.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'")).all())
    return sum(int(value) for value in status.values())


def test_blob_rows_written_ahead_are_the_rows_add_blobs_writes(registry):
    """A push writes the INSERT statements of its blob rows in another thread, before it knows
    every fragment is in its batch (blobs.prepare, MySQL only). Used for that very dict, they
    write what add_blobs writes, and another push's rows still win; for any other they are not."""
    wanted = fragments(range(5000))
    ordered = sorted(wanted)
    first = {h: Stored(wanted[h].size, "c" * 32) for h in ordered[2000:4000]}
    dialect = registry.state.engine.dialect.name
    prepared = blobs.prepare(OWNER, wanted, dialect)
    assert (prepared is None) == (dialect == "sqlite")
    with registry.state.session_factory() as session:
        blobs.add_blobs(session, OWNER, first)
        session.commit()
        rows, ids = blobs.add_blobs(session, OWNER, wanted, prepared)
        other, _ = blobs.add_blobs(session, "bob", dict(wanted), prepared)  # an equal dict, not the one
        session.commit()
        in_database = {(o, h): (i, Stored(size, batch)) for i, o, h, size, batch in session.execute(
            select(Blob.id, Blob.owner, Blob.hash, Blob.size, Blob.batch))}
    assert rows == {**wanted, **first} == {h: in_database[(OWNER, h)][1] for h in ordered}
    assert ids == {h: in_database[(OWNER, h)][0] for h in ordered}
    assert other == wanted == {h: in_database[("bob", h)][1] for h in ordered}


def test_statements_written_without_a_connection_leave_odd_values_to_the_driver():
    table, columns = Blob.__table__, bulk.columns_of([{"owner": "o'brien", "hash": "ab"}])
    with pytest.raises(bulk.NeedsEscape):
        bulk.mysql_inserts(table, columns, unchanged="hash")
    assert bulk.mysql_inserts(table, columns, unchanged="hash", escape=lambda value: "'escaped'") == [bulk.Statement(
        "INSERT INTO `blob` (`owner`, `hash`) VALUES ('escaped','ab') ON DUPLICATE KEY UPDATE `hash` = `hash`", 1)]
    assert blobs.prepare("o'brien", {"ab": Stored(1)}, "mysql") is None  # add_blobs then escapes it


def _uncut(count: int) -> list[int]:
    """Numbers whose digests never end a chunk by content: runs of them are cut at MAX_CHUNK."""
    found, n = [], 0
    while len(found) < count:
        if int(digest(n)[-2:], 16) % fragment_sets.CUT_EVERY:
            found.append(n)
        n += 1
    return found


def _cut_point(numbers) -> int:
    return next(n for n in numbers if int(digest(n)[-2:], 16) % fragment_sets.CUT_EVERY == 0)


BASE = range(COUNT)
UNCUT = _uncut(3000)
CHANGES = {
    "ten out, ten in": (BASE, [*range(10, COUNT), *range(COUNT, COUNT + 10)]),
    "a cut point out": (BASE, [n for n in BASE if n != _cut_point(BASE)]),
    "before the first, after the last": (BASE, [*BASE, *range(COUNT, COUNT + 3000)]),
    "all but a few out": (BASE, range(5)),
    "nothing changes": (BASE, BASE),
    "runs cut at the bound, one out": (UNCUT, UNCUT[1:]),
    "runs cut at the bound, one in": (UNCUT, [-1, *UNCUT]),
    "an empty base": ([], range(100)),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_set_written_as_changes_is_the_set_written_whole(registry, change):
    """write_changes reads and cuts only the base's chunks around the changes, and ends with the
    very chunks `write` makes of the whole new set (the same rows, shared with the base)."""
    before, after = (fragments(numbers) for numbers in CHANGES[change])
    with registry.state.session_factory() as session:
        package = Package(owner=OWNER, name="big", folded_handle="alice/big")
        session.add(package)
        session.flush()
        blobs.add_blobs(session, OWNER, before)
        base = _instance(session, package.id, 1)
        fragment_sets.write(session, base, OWNER, before)
        rows, ids = blobs.add_blobs(session, OWNER, {h: s for h, s in after.items() if h not in before})
        new = _instance(session, package.id, 2)
        fragment_sets.write_changes(session, new, OWNER, base, set(before) - set(after), rows, ids)
        session.commit()
        chunks = set(session.scalars(select(FragmentChunk.digest).join(InstanceChunk).where(
            InstanceChunk.instance_id == new)))
        assert chunks == {c.digest for c in fragment_sets.cut(OWNER, after)}
        assert blobs.instance_fragments(session, new) == after
        assert linked_hashes_by_instance(session).get(new, set()) == set(after)
        assert fragment_sets.count(session, new) == len(after)


def test_chunks_planned_ahead_are_used_only_for_the_fragments_they_were_cut_from(registry):
    """A first push cuts its fragment set in another thread, as it is if every fragment arrived
    in its batch; a wrong guess (a fragment stored elsewhere) is cut again from what is true."""
    actual = fragments(range(2_000))
    guessed = {h: Stored(s.size, "b" * 32) for h, s in actual.items()}  # one is not in the batch
    assert guessed != actual
    with registry.state.session_factory() as session:
        package = Package(owner=OWNER, name="planned", folded_handle="alice/planned")
        session.add(package)
        session.flush()
        blobs.add_blobs(session, OWNER, actual)
        right, wrong = _instance(session, package.id, 1), _instance(session, package.id, 2)
        fragment_sets.write(session, right, OWNER, actual, planned=fragment_sets.plan(OWNER, actual))
        fragment_sets.write(session, wrong, OWNER, actual, planned=fragment_sets.plan(OWNER, guessed))
        session.commit()
        assert fragment_sets.read(session, right) == fragment_sets.read(session, wrong) == actual
        chunk_ids = [set(session.scalars(select(InstanceChunk.chunk_id).where(InstanceChunk.instance_id == i)))
                     for i in (right, wrong)]
        assert chunk_ids[0] == chunk_ids[1]

"""`registry gc` with fragment sets in shared chunks (services.fragment_sets)."""

from sqlalchemy import delete, func, select

from registry.db import utcnow
from registry.models import Blob, ChunkBlob, FragmentChunk, Instance, InstanceChunk, Package
from registry.services import blobs, fragment_sets
from tests.services.test_fragment_sets import OWNER, _instance, fragments


def test_garbage_collection_keeps_what_a_live_instance_holds(registry, run):
    """Delete one of two instances sharing most fragments: gc removes its chunks that nobody
    else holds and the fragments only it had, and nothing the other instance needs."""
    registry.create_user(OWNER)
    first_set = fragments(range(2000), batches=False)  # the local store keeps no batches
    second_set = fragments(range(5, 2000), batches=False)
    with registry.state.session_factory() as session:
        package = Package(owner=OWNER, name="gc", folded_handle="alice/gc")
        session.add(package)
        session.flush()
        blobs.add_blobs(session, OWNER, first_set)
        # Old enough for gc's grace period.
        session.execute(Blob.__table__.update().values(created_at=utcnow().replace(year=2000), touched_at=None))
        first, second = _instance(session, package.id, 1), _instance(session, package.id, 2)
        fragment_sets.write(session, first, OWNER, first_set)
        fragment_sets.write(session, second, OWNER, second_set)
        session.execute(delete(Instance).where(Instance.id == first))
        session.execute(delete(InstanceChunk).where(InstanceChunk.instance_id == first))  # SQLite: no cascade
        session.commit()
    result = run("gc", "--yes", "--json")
    assert result.exit_code == 0, result.output
    with registry.state.session_factory() as session:
        assert set(session.scalars(select(Blob.hash))) == set(second_set)
        assert blobs.instance_fragments(session, second) == second_set
        held = set(session.scalars(select(InstanceChunk.chunk_id)))
        assert set(session.scalars(select(FragmentChunk.id))) == held, "chunks nobody holds are gone"
        assert session.scalar(select(func.count()).select_from(ChunkBlob)) == len(second_set)

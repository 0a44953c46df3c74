"""The migrations build exactly the schema the models describe, and run down and up again."""

import datetime as dt

import pytest
from packaging.version import Version as PackagingVersion
from sqlalchemy import delete, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from registry import migrate, version_order
from registry.db import Base, make_engine
from registry.models import Blob, ChunkBlob, FragmentChunk, KeywordGram, KeywordSet, ReadmeGram, Version
from registry.services import grams, readme


def test_migrations_match_models_and_run_down_and_up(clean_database):
    engine = make_engine(clean_database)
    try:
        assert migrate.is_current(engine)
        assert migrate.model_drift(engine) == []
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert set(inspect(engine).get_table_names()) & set(Base.metadata.tables) == set()
        migrate.upgrade(engine)
        assert migrate.is_current(engine)
        assert migrate.model_drift(engine) == []
    finally:
        migrate.upgrade(engine)  # leave the session database usable whatever happened
        engine.dispose()


def test_drift_is_detected(clean_database):
    """The check above can fail: a column the migrations do not create shows up as drift."""
    from sqlalchemy import Column, Integer, MetaData, Table
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    metadata = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(metadata)
    Table("user", metadata, Column("shoe_size", Integer), extend_existing=True)
    engine = make_engine(clean_database)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert [d[0] for d in diff] == ["add_column"] and diff[0][3].name == "shoe_size"


def test_blob_key_by_hash_keeps_every_row_and_link(clean_database):
    """Migration 0009 swaps the blob table's unique key to (hash, owner). On SQLite that means
    rebuilding a table other rows point to: the rows and the links to them survive, foreign
    keys are enforced again afterwards, and the rule (one row per owner and hash) still holds."""
    engine = make_engine(clean_database)
    try:
        migrate.downgrade(engine, "0008")
        when = dt.datetime(2026, 12, 7, 10)
        with engine.begin() as connection:  # the tables' columns are those of 0008
            connection.execute(insert(Blob.__table__), [
                {"id": 7, "owner": "alice", "hash": "a" * 64, "size": 3, "created_at": when},
                {"id": 8, "owner": "bob", "hash": "a" * 64, "size": 4, "created_at": when}])
            connection.execute(insert(FragmentChunk.__table__), [{"id": 5, "digest": "d" * 64, "count": 2, "records": b"x"}])
            connection.execute(insert(ChunkBlob.__table__), [{"chunk_id": 5, "blob_id": 7}, {"chunk_id": 5, "blob_id": 8}])
        migrate.upgrade(engine)
        assert migrate.model_drift(engine) == []
        with engine.connect() as connection:
            assert connection.execute(select(Blob.id, Blob.owner, Blob.size).order_by(Blob.id)).all() == [
                (7, "alice", 3), (8, "bob", 4)]
            assert connection.execute(select(ChunkBlob.blob_id).order_by(ChunkBlob.blob_id)).scalars().all() == [7, 8]
        keys = {c["name"]: c["column_names"] for c in inspect(engine).get_unique_constraints("blob")}
        assert keys == {"uq_blob_hash_owner": ["hash", "owner"]}
        with pytest.raises(IntegrityError), engine.begin() as connection:  # the same owner and hash again
            connection.execute(insert(Blob.__table__), [{"owner": "bob", "hash": "a" * 64, "size": 1, "created_at": when}])
        with pytest.raises(IntegrityError), engine.begin() as connection:  # a link to no blob
            connection.execute(insert(ChunkBlob.__table__), [{"chunk_id": 5, "blob_id": 999}])
    finally:
        migrate.upgrade(engine)
        engine.dispose()


def test_search_grams_index_the_texts_already_stored(clean_database):
    """Migration 0011 indexes the keyword sets and READMEs stored before it exactly as a push
    indexes new ones (its frozen copy of the grams must agree with services.grams and
    services.readme), and their grams go with them."""
    names = "data.csv part_0001 température 東京"
    preview = "# ΟΔΟΣ\tWeather\r\nİstanbul, daily"
    engine = make_engine(clean_database)
    try:
        migrate.downgrade(engine, "0010")
        when = dt.datetime(2026, 12, 7, 10)
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO keyword_set (id, digest, words) VALUES (3, :d, :w)"),
                               {"d": "c" * 64, "w": names})
            connection.execute(insert(Blob.__table__), [{"id": 7, "owner": "alice", "hash": "a" * 64, "size": 3,
                                                         "created_at": when, "preview": preview}])
            connection.execute(text("INSERT INTO package (id, owner, name, folded_handle, created_at) "
                                    "VALUES (1, 'alice', 'p', 'alice/p', :t)"), {"t": when})
            connection.execute(text("INSERT INTO instance (id, package_id, hash, readme_hash, keyword_set_id, "
                                    "created_at, created_by, updated_at, updated_by) "
                                    "VALUES (1, 1, :h, :r, 3, :t, 'alice', :t, 'alice')"),
                               {"h": "b" * 64, "r": "a" * 64, "t": when})
        migrate.upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(select(KeywordGram.gram).where(KeywordGram.keyword_set_id == 3)
                                      .order_by(KeywordGram.gram)).scalars().all() == grams.text_grams(names)
            assert connection.execute(select(ReadmeGram.gram).where(ReadmeGram.blob_id == 7)
                                      .order_by(ReadmeGram.gram)).scalars().all() == readme.search_grams(preview)
            assert connection.execute(select(KeywordSet.indexed)).scalars().all() == [True]
            assert connection.execute(select(Blob.preview_indexed)).scalars().all() == [True]
        with engine.begin() as connection:  # the grams go with their set and blob
            connection.execute(text("DELETE FROM instance"))
            connection.execute(delete(KeywordSet))
            connection.execute(delete(Blob))
            for table in (KeywordGram, ReadmeGram):
                assert connection.execute(select(func.count()).select_from(table)).scalar() == 0
            connection.execute(text("DELETE FROM package"))
    finally:
        migrate.upgrade(engine)
        engine.dispose()


def test_versions_stored_before_get_their_pep_440_keys(clean_database):
    """Migration 0013 gives every version stored before it the key the registry writes for a
    new one (registry.version_order), across more than one of its reads (5,000 rows each)."""
    stored = ["1.0", "1.0.0", "2.0rc1", "1.0.dev3", "1!0.1", "1.0+local.7", "1.0.post2", "10.0"]
    stored += [f"3.{number}" for number in range(2_600)]
    engine = make_engine(clean_database)
    try:
        migrate.downgrade(engine, "0012")
        when = dt.datetime(2026, 12, 7, 10)
        with engine.begin() as connection:
            for package in (1, 2):
                connection.execute(text("INSERT INTO package (id, owner, name, folded_handle, created_at) "
                                        "VALUES (:p, 'alice', :n, :f, :t)"),
                                   {"p": package, "n": f"p{package}", "f": f"alice/p{package}", "t": when})
                connection.execute(text("INSERT INTO instance (id, package_id, hash, created_at, created_by, "
                                        "updated_at, updated_by) VALUES (:p, :p, :h, :t, 'alice', :t, 'alice')"),
                                   {"p": package, "h": str(package) * 64, "t": when})
                connection.execute(text("INSERT INTO version (package_id, version, user_version, instance_id, "
                                        "created_at, created_by) VALUES (:p, :v, :v, :p, :t, 'alice')"),
                                   [{"p": package, "v": version, "t": when} for version in stored])
        migrate.upgrade(engine)
        with engine.connect() as connection:
            keys = connection.execute(select(Version.package_id, Version.version, Version.sort_key)).all()
            listed = connection.execute(select(Version.version).where(Version.package_id == 2)
                                        .order_by(Version.sort_key, Version.version)).scalars().all()
        assert sorted(keys) == sorted((package, version, version_order.sort_key(version))
                                      for package in (1, 2) for version in stored)
        assert listed == sorted(stored, key=lambda version: (PackagingVersion(version), version))
        with engine.begin() as connection:
            connection.execute(text("DELETE FROM package"))
    finally:
        migrate.upgrade(engine)
        engine.dispose()

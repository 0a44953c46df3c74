"""The migrations build exactly the schema the models describe, and run down and up again."""

from sqlalchemy import inspect

from registry import migrate
from registry.db import Base, make_engine


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

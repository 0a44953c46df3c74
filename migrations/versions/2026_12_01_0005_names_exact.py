"""names compared exactly (NO PAD binary collation on MariaDB/MySQL)

`utf8mb4_bin` is PAD SPACE: `alice/pub ` found `alice/pub`, and a tag `latest ` moved `latest`.
Every name column moves to the binary NO PAD collation of the server: `utf8mb4_nopad_bin` on
MariaDB (10.2+), `utf8mb4_0900_bin` on MySQL (8.0+). SQLite compares exactly already: no-op there.
No key changes meaning on the way up (NO PAD only tells more values apart); on the way down, rows
that differ only by trailing spaces would collide and the downgrade stops with a duplicate key.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PAD_COLLATION = "utf8mb4_bin"

# Frozen: (table, column, length, nullable) of every column registry.db.Name() types (0001, 0002).
NAME_COLUMNS = (
    ("user", "name", 64, False),
    ("package", "owner", 64, False),
    ("package", "name", 64, False),
    ("package", "folded_handle", 129, False),
    ("access", "principal", 64, False),
    ("instance", "created_by", 64, False),
    ("instance", "updated_by", 64, False),
    ("blob", "owner", 64, False),
    ("log", "author", 64, False),
    ("tag", "name", 64, False),
    ("tag", "updated_by", 64, False),
    ("version", "version", 64, False),
    ("version", "created_by", 64, False),
    ("event", "user", 64, True),
    ("event", "package_owner", 64, False),
    ("event", "package_name", 64, False),
    ("comment", "author", 64, False),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name in ("mysql", "mariadb"):
        _set_collation(_nopad_collation(bind.dialect))


def downgrade() -> None:
    if op.get_bind().dialect.name in ("mysql", "mariadb"):
        _set_collation(PAD_COLLATION)


def _nopad_collation(dialect) -> str:
    version = tuple(part for part in dialect.server_version_info or () if isinstance(part, int))
    if dialect.is_mariadb:
        if version < (10, 2):
            raise RuntimeError("MariaDB 10.2 or later is needed (for the utf8mb4_nopad_bin collation)")
        return "utf8mb4_nopad_bin"
    if version < (8, 0):
        raise RuntimeError("MySQL 8.0 or later is needed (for the utf8mb4_0900_bin collation)")
    return "utf8mb4_0900_bin"


def _set_collation(collation: str) -> None:
    """One ALTER TABLE per table; no foreign key uses these columns, and InnoDB rebuilds their
    indexes (unique keys and primary keys included) in the new collation."""
    changes: dict[str, list[str]] = {}
    for table, column, length, nullable in NAME_COLUMNS:
        changes.setdefault(table, []).append(
            f"MODIFY `{column}` VARCHAR({length}) CHARACTER SET utf8mb4 COLLATE {collation} "
            + ("NULL" if nullable else "NOT NULL"))
    for table, clauses in changes.items():
        op.execute(f"ALTER TABLE `{table}` " + ", ".join(clauses))

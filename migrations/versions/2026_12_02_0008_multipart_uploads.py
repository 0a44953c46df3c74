"""multipart uploads of Transfers v2

One row per multipart upload of a fragment by a pusher: the store's upload id, the part size
and the SHA-256 of every part (signed into the part URLs), so a client that crashed can go on.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.compiler import compiles

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MY = ("mysql", "mariadb")


class ExactString(sa.String):
    """Frozen copy of registry.db.ExactString (names compared byte for byte, NO PAD)."""


@compiles(ExactString, "mysql")
@compiles(ExactString, "mariadb")
def _exact_string_on_mysql(type_, compiler, **_kw):
    collation = "utf8mb4_nopad_bin" if compiler.dialect.is_mariadb else "utf8mb4_0900_bin"
    return f"VARCHAR({type_.length}) CHARACTER SET utf8mb4 COLLATE {collation}"


def upgrade() -> None:
    op.create_table(
        "multipart_upload",
        sa.Column("id", sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite"), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("owner", ExactString(64), nullable=False),
        sa.Column("hash", sa.String(64).with_variant(mysql.CHAR(64, charset="ascii", collation="ascii_bin"), *MY),
                  nullable=False),
        sa.Column("pusher", ExactString(64), nullable=False),
        sa.Column("staged", sa.Boolean(), nullable=False),
        sa.Column("upload_id", sa.String(1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("checksums", sa.LargeBinary().with_variant(mysql.LONGBLOB(), *MY), nullable=False),
        sa.Column("created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MY), nullable=False),
        sa.Column("completed_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MY), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_multipart_upload"),
        sa.UniqueConstraint("token", name="uq_multipart_upload_token"),
        sa.UniqueConstraint("owner", "hash", "pusher", name="uq_multipart_upload_owner_hash_pusher"),
        mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
    )


def downgrade() -> None:
    op.drop_table("multipart_upload")

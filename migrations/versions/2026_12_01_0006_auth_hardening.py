"""throttling counters and refresh-token families

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copies of the column types of registry.db, so this revision never changes under us.
MY = ("mysql", "mariadb")


def hash_():
    return sa.String(64).with_variant(mysql.CHAR(64, charset="ascii", collation="ascii_bin"), *MY)


def timestamp():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MY)


def upgrade() -> None:
    op.create_table(
        "throttle_counter",
        sa.Column("key", hash_(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("started_at", timestamp(), nullable=False),
        sa.Column("expires_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_throttle_counter"),
        mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_throttle_counter_expires_at", "throttle_counter", ["expires_at"])
    # Every existing token starts a family of its own.
    with op.batch_alter_table("refresh_token") as batch:
        batch.add_column(sa.Column("family", hash_(), nullable=True))
    op.execute("UPDATE refresh_token SET family = token_hash")
    with op.batch_alter_table("refresh_token") as batch:
        batch.alter_column("family", existing_type=hash_(), nullable=False)
        batch.create_index("ix_refresh_token_family", ["family"])


def downgrade() -> None:
    with op.batch_alter_table("refresh_token") as batch:
        batch.drop_index("ix_refresh_token_family")
        batch.drop_column("family")
    op.drop_index("ix_throttle_counter_expires_at", table_name="throttle_counter")
    op.drop_table("throttle_counter")

"""blob upkeep: touched_at (garbage-collection grace), checked_at and problem (verification)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def timestamp():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("blob") as batch:
        batch.add_column(sa.Column("touched_at", timestamp(), nullable=True))
        batch.add_column(sa.Column("checked_at", timestamp(), nullable=True))
        batch.add_column(sa.Column("problem", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blob") as batch:
        batch.drop_column("problem")
        batch.drop_column("checked_at")
        batch.drop_column("touched_at")

"""search keywords on instances, README previews on blobs, comments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, sqlite

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MY = ("mysql", "mariadb")


def long_text():
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), *MY)


def upgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("keywords", long_text(), nullable=True))
    op.execute("UPDATE instance SET keywords = ''")
    with op.batch_alter_table("instance") as batch:
        batch.alter_column("keywords", nullable=False, existing_type=long_text())
    with op.batch_alter_table("blob") as batch:
        batch.add_column(sa.Column("preview", long_text(), nullable=True))
    op.create_table(
        "comment",
        sa.Column("id", sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite"), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(64).with_variant(mysql.VARCHAR(64, charset="utf8mb4", collation="utf8mb4_bin"), *MY),
                  nullable=False),
        sa.Column("created_at", sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MY), nullable=False),
        sa.Column("contents", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["package.id"], name="fk_comment_package_id_package", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_comment"),
        mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
    )
    op.create_index("ix_comment_package_id", "comment", ["package_id"])


def downgrade() -> None:
    op.drop_table("comment")
    with op.batch_alter_table("blob") as batch:
        batch.drop_column("preview")
    with op.batch_alter_table("instance") as batch:
        batch.drop_column("keywords")

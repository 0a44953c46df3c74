"""initial schema: users, login codes, refresh tokens, packages, instances, blobs, log, tags,
versions, access, events

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql, sqlite

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types of registry.db, so this revision never changes under us.
MY = ("mysql", "mariadb")


def name(length=64):
    return sa.String(length).with_variant(mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), *MY)


def hash_():
    return sa.String(64).with_variant(mysql.CHAR(64, charset="ascii", collation="ascii_bin"), *MY)


def timestamp():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MY)


def big_id():
    return sa.BigInteger().with_variant(sqlite.INTEGER(), "sqlite")


def create_table(table, *columns):
    op.create_table(table, *columns, mysql_engine="InnoDB", mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin")


def upgrade() -> None:
    create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", name(), nullable=False),
        sa.Column("email", sa.String(254), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("last_login", timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_user"),
        sa.UniqueConstraint("name", name="uq_user_name"),
        sa.UniqueConstraint("email", name="uq_user_email"),
    )
    for table, secret in (("login_code", "code_hash"), ("refresh_token", "token_hash")):
        extra = [] if table == "login_code" else [
            sa.Column("last_used_at", timestamp(), nullable=True),
            sa.Column("revoked_at", timestamp(), nullable=True),
        ]
        create_table(
            table,
            sa.Column("id", big_id(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column(secret, hash_(), nullable=False),
            sa.Column("created_at", timestamp(), nullable=False),
            sa.Column("expires_at", timestamp(), nullable=False),
            *extra,
            sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=f"fk_{table}_user_id_user", ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
            sa.UniqueConstraint(secret, name=f"uq_{table}_{secret}"),
        )
        op.create_index(f"ix_{table}_user_id", table, ["user_id"])

    create_table(
        "package",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", name(), nullable=False),
        sa.Column("name", name(), nullable=False),
        sa.Column("folded_handle", name(129), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_package"),
        sa.UniqueConstraint("owner", "name", name="uq_package_owner_name"),
        sa.UniqueConstraint("folded_handle", name="uq_package_folded_handle"),
    )
    create_table(
        "access",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("principal", name(), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["package.id"], name="fk_access_package_id_package", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("package_id", "principal", name="pk_access"),
    )
    op.create_index("ix_access_principal", "access", ["principal"])
    create_table(
        "instance",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("hash", hash_(), nullable=False),
        sa.Column("contents", sa.LargeBinary().with_variant(mysql.LONGBLOB(), *MY), nullable=False),
        sa.Column("readme_hash", hash_(), nullable=True),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("created_by", name(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.Column("updated_by", name(), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["package.id"], name="fk_instance_package_id_package", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_instance"),
        sa.UniqueConstraint("package_id", "hash", name="uq_instance_package_id_hash"),
    )
    create_table(
        "blob",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("owner", name(), nullable=False),
        sa.Column("hash", hash_(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_blob"),
        sa.UniqueConstraint("owner", "hash", name="uq_blob_owner_hash"),
    )
    create_table(
        "instance_blob",
        sa.Column("instance_id", big_id(), nullable=False),
        sa.Column("blob_id", big_id(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], name="fk_instance_blob_instance_id_instance",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["blob_id"], ["blob.id"], name="fk_instance_blob_blob_id_blob"),
        sa.PrimaryKeyConstraint("instance_id", "blob_id", name="pk_instance_blob"),
    )
    op.create_index("ix_instance_blob_blob_id", "instance_blob", ["blob_id"])
    create_table(
        "log",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", big_id(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("author", name(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["package_id"], ["package.id"], name="fk_log_package_id_package", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], name="fk_log_instance_id_instance", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_log"),
    )
    op.create_index("ix_log_package_id", "log", ["package_id"])
    op.create_index("ix_log_instance_id", "log", ["instance_id"])
    create_table(
        "tag",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("name", name(), nullable=False),
        sa.Column("instance_id", big_id(), nullable=False),
        sa.Column("updated_at", timestamp(), nullable=False),
        sa.Column("updated_by", name(), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["package.id"], name="fk_tag_package_id_package", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], name="fk_tag_instance_id_instance", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("package_id", "name", name="pk_tag"),
    )
    op.create_index("ix_tag_instance_id", "tag", ["instance_id"])
    create_table(
        "version",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("version", name(), nullable=False),
        sa.Column("user_version", sa.String(64), nullable=False),
        sa.Column("instance_id", big_id(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("created_by", name(), nullable=False),
        sa.ForeignKeyConstraint(["package_id"], ["package.id"], name="fk_version_package_id_package", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], name="fk_version_instance_id_instance",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("package_id", "version", name="pk_version"),
    )
    op.create_index("ix_version_instance_id", "version", ["instance_id"])
    create_table(
        "event",
        sa.Column("id", big_id(), nullable=False),
        sa.Column("created_at", timestamp(), nullable=False),
        sa.Column("user", name(), nullable=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("package_owner", name(), nullable=False),
        sa.Column("package_name", name(), nullable=False),
        sa.Column("package_hash", hash_(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_event"),
    )
    op.create_index("ix_event_package", "event", ["package_owner", "package_name"])
    op.create_index("ix_event_user", "event", ["user"])


def downgrade() -> None:
    for table in ("event", "version", "tag", "log", "instance_blob", "blob", "instance", "access", "package",
                  "refresh_token", "login_code", "user"):
        op.drop_table(table)

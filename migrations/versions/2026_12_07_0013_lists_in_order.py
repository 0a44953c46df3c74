"""a package's instances and versions listed in order, a batch at a time

`GET /api/version/O/N/` read every version of the package and sorted them in Python by PEP 440
(0.9 s and 42 MiB at 50,000 versions; a version is one request, so an owner can grow a public
package's list without bound and anyone may read it). `version.sort_key` holds bytes that sort
as PEP 440 does (registry.version_order), and the index (package_id, sort_key, version) lets the
list be read a batch at a time in that order (services.keyset). Existing versions get their key
here. `instance` gets the index (package_id, id), for `GET /api/package/O/N/` in the same way.

The keys are computed by registry.version_order itself, not a frozen copy: a later change to the
format must come with a migration that writes every key again, and the code that migration runs
with is the code that reads them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from registry.version_order import MAX_KEY_BYTES, sort_key

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ROWS_PER_READ = 5_000
SORT_KEY = sa.LargeBinary().with_variant(mysql.VARBINARY(MAX_KEY_BYTES), "mysql", "mariadb")


def upgrade() -> None:
    op.create_index("ix_instance_package_id_id", "instance", ["package_id", "id"])
    with op.batch_alter_table("version") as batch:
        batch.add_column(sa.Column("sort_key", SORT_KEY, nullable=True))
    bind = op.get_bind()
    update = sa.text("UPDATE version SET sort_key = :key WHERE package_id = :package AND version = :version")
    last = (-1, "")
    while True:
        rows = bind.execute(sa.text(
            "SELECT package_id, version FROM version WHERE package_id > :package OR "
            "(package_id = :package AND version > :version) ORDER BY package_id, version LIMIT :limit"),
            {"package": last[0], "version": last[1], "limit": ROWS_PER_READ}).all()
        if not rows:
            break
        bind.execute(update, [{"key": sort_key(version), "package": package, "version": version}
                              for package, version in rows])
        last = tuple(rows[-1])
    with op.batch_alter_table("version") as batch:
        batch.alter_column("sort_key", existing_type=SORT_KEY, nullable=False)
    op.create_index("ix_version_package_id_sort_key", "version", ["package_id", "sort_key", "version"])


def downgrade() -> None:
    op.drop_index("ix_version_package_id_sort_key", "version")
    with op.batch_alter_table("version") as batch:
        batch.drop_column("sort_key")
    op.drop_index("ix_instance_package_id_id", "instance")

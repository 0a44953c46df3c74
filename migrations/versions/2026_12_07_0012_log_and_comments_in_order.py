"""a package's pushes, comments and newest versions found in order

The indexes on `log` (package_id) and `comment` (package_id) become (package_id, created_at,
id), the order in which both are listed. The package page shows a package's newest pushes:
with the old index MariaDB read and sorted every push of the package for each view (1.1 s at
10,000 pushes; past about 30,000 the page answered 503 at the statement bound). With this one,
the newest are the last steps of the index, so the page costs what it shows. The whole log and
all comments (`GET /api/log/`, `GET /api/comments/`) are read in batches, each one step into
the index after the last row of the batch before (services.keyset). `version` gets an index
(package_id, created_at, version): the page shows the 100 versions named last, without sorting
them all.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each created first: MariaDB keeps an index for the foreign key on package_id, and it serves.
    for table in ("log", "comment"):
        op.create_index(f"ix_{table}_package_id_created_at", table, ["package_id", "created_at", "id"])
        op.drop_index(f"ix_{table}_package_id", table)
    op.create_index("ix_version_package_id_created_at", "version", ["package_id", "created_at", "version"])


def downgrade() -> None:
    op.drop_index("ix_version_package_id_created_at", "version")
    for table in ("log", "comment"):
        op.create_index(f"ix_{table}_package_id", table, ["package_id"])
        op.drop_index(f"ix_{table}_package_id_created_at", table)

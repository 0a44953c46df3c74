"""instances found by package and update time

An index on `instance` (package_id, updated_at): the home page and `GET /api/recent_packages/`
rank packages by their newest instance, and without it MariaDB read every instance of every
readable package for each view (1.5 s at 500,000 instances, growing with all history). With it,
the newest instance of a package is one step down the index (31 ms at 500,000 instances, 25 ms
at 100,000: the cost follows the number of packages only).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_instance_package_id_updated_at", "instance", ["package_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_instance_package_id_updated_at", "instance")

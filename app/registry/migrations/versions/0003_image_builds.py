"""Image builds: one row per finished ``modelbay build`` of a version.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "image_builds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tag", sa.String(300), nullable=False),
        sa.Column("image_id", sa.String(100), nullable=True),
        sa.Column("base_image", sa.String(300), nullable=False),
        sa.Column("base_image_id", sa.String(100), nullable=True),
        sa.Column("lock_sha256", sa.String(64), nullable=True),
        sa.Column("lock_text", sa.Text(), nullable=True),
        sa.Column("requirements", sa.JSON(), nullable=True),
        sa.Column("layers", sa.JSON(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("smoke", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_image_builds_version_id_model_versions",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_image_builds"),
        sa.CheckConstraint(
            "status IN ('verified', 'built', 'failed', 'cancelled')",
            name="ck_image_builds_status_known",
        ),
    )
    op.create_index("ix_image_builds_version_id", "image_builds", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_image_builds_version_id", table_name="image_builds")
    op.drop_table("image_builds")

"""Deployments: every attempt to run a version as a service on a host, and its outcome.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

With ``started_at``/``live_at``/``ended_at`` per row, "what served predictions on
host X at time T" is one query. Environment variable *values* are never stored
(they may be secrets): only their names.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(40), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(100), nullable=False),
        sa.Column("image_tag", sa.String(300), nullable=False),
        sa.Column("container", sa.String(200), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("log_tail", sa.Text(), nullable=False),
        sa.Column("predecessor_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("live_at", sa.DateTime(), nullable=True),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name="fk_deployments_version_id_model_versions",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["predecessor_id"],
            ["deployments.id"],
            name="fk_deployments_predecessor_id_deployments",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.UniqueConstraint("uid", name="uq_deployments_uid"),
        sa.CheckConstraint(
            "status IN ('deploying', 'live', 'retired', 'stopped', 'failed', 'interrupted')",
            name="ck_deployments_status_known",
        ),
    )
    op.create_index("ix_deployments_version_id", "deployments", ["version_id"])
    op.create_index("ix_deployments_host_service_id", "deployments", ["host", "service", "id"])


def downgrade() -> None:
    op.drop_index("ix_deployments_host_service_id", table_name="deployments")
    op.drop_index("ix_deployments_version_id", table_name="deployments")
    op.drop_table("deployments")

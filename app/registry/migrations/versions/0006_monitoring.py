"""Monitoring: the windows pulled from deployed endpoints, and each service's alert thresholds.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

A window is stored once per (deployment, seq): pulling again never duplicates
one, and what was pulled stays when the runtime has long forgotten it. Its
counts and reservoir sample are kept as the runtime sent them (``data``), with
the drift computed against the version's reference when it was stored
(``drift``), so plots over a day of windows need no statistics to redraw.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitor_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("drift", sa.JSON(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name="fk_monitor_windows_deployment_id_deployments",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_windows"),
        sa.UniqueConstraint("deployment_id", "seq", name="uq_monitor_windows_deployment_id_seq"),
    )
    op.create_index(
        "ix_monitor_windows_host_service_started_at",
        "monitor_windows",
        ["host", "service", "started_at"],
    )
    op.create_table(
        "monitor_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("thresholds", sa.JSON(), nullable=True),
        sa.Column("alert", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_settings"),
        sa.UniqueConstraint("host", "service", name="uq_monitor_settings_host_service"),
    )


def downgrade() -> None:
    op.drop_table("monitor_settings")
    op.drop_index("ix_monitor_windows_host_service_started_at", table_name="monitor_windows")
    op.drop_table("monitor_windows")

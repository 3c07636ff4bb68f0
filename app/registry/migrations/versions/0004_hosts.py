"""Hosts: the machines images ship to and deploy on, reached over SSH.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

No secret is ever stored here: passwords and key passphrases live in the OS
keyring. The pinned host key is public (it is what the host shows everyone).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("user", sa.String(200), nullable=True),
        sa.Column("identity_file", sa.Text(), nullable=True),
        sa.Column("host_key_type", sa.String(60), nullable=True),
        sa.Column("host_key", sa.Text(), nullable=True),
        sa.Column("host_key_fingerprint", sa.String(100), nullable=True),
        sa.Column("last_check", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_hosts"),
        sa.UniqueConstraint("name", name="uq_hosts_name"),
    )


def downgrade() -> None:
    op.drop_table("hosts")

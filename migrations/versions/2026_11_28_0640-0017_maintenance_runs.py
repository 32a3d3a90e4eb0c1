"""maintenance runs: when each scheduled job last ran, succeeded and failed

So that GET /metrics can tell a clean-up, a journal purge or verification, or an analytics
refresh that stopped running or started failing (passport.maintenance).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-28 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'maintenance_runs',
        sa.Column('task', sa.String(length=40), nullable=False),
        sa.Column('last_started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_success_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_failure_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_failure', sa.String(length=500), nullable=True),
        sa.Column('last_ok', sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint('task', name=op.f('pk_maintenance_runs')),
    )


def downgrade() -> None:
    op.drop_table('maintenance_runs')

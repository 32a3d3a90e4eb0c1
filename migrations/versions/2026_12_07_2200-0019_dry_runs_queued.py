"""dry runs queued: the dry-run validator's asynchronous form (``Prefer: respond-async``)

A large file's dry run takes up to a minute; queued, it holds no web worker: the upload
waits here for a job, then its verdict until it expires.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'dry_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_sha256', sa.String(length=64), nullable=False),
        sa.Column('file_name', sa.String(length=255), nullable=False),
        sa.Column('size_bytes', sa.BigInteger(), nullable=False),
        sa.Column('storage_path', sa.String(length=1024), nullable=True),
        sa.Column('status', sa.Enum('EN_ATTENTE', 'EN_COURS', 'TERMINE', 'ECHEC',
                                    name='dryrunstatus', native_enum=False,
                                    create_constraint=True), nullable=False),
        sa.Column('verdict', sa.JSON().with_variant(
            postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('worker', sa.String(length=100), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_dry_runs')),
        sa.UniqueConstraint('token_sha256', name=op.f('uq_dry_runs_token_sha256')),
    )
    op.create_index(op.f('ix_dry_runs_expires_at'), 'dry_runs', ['expires_at'], unique=False)
    op.create_index(op.f('ix_dry_runs_status'), 'dry_runs', ['status'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_dry_runs_status'), table_name='dry_runs')
    op.drop_index(op.f('ix_dry_runs_expires_at'), table_name='dry_runs')
    op.drop_table('dry_runs')

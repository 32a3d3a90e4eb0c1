"""deposit jobs and statistics

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:54:08.194898
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deposit_stats',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('deposit_id', sa.Integer(), nullable=False),
    sa.Column('emitter_bcr', sa.String(length=8), nullable=False),
    sa.Column('certifier_bcr', sa.String(length=8), nullable=False),
    sa.Column('month', sa.String(length=7), nullable=False),
    sa.Column('certification_type', sa.String(length=255), nullable=False),
    sa.Column('certification_code', sa.String(length=100), nullable=False),
    sa.Column('received', sa.Integer(), nullable=False),
    sa.Column('ok', sa.Integer(), nullable=False),
    sa.Column('ko_nirisation', sa.Integer(), nullable=False),
    sa.Column('ko_duplicate', sa.Integer(), nullable=False),
    sa.Column('ko_rules', sa.Integer(), nullable=False),
    sa.Column('ko_other', sa.Integer(), nullable=False),
    sa.Column('ko_by_code', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_deposit_stats_deposit_id_deposits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposit_stats'))
    )
    with op.batch_alter_table('deposit_stats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_stats_certifier_bcr_month'), ['certifier_bcr', 'month'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposit_stats_deposit_id'), ['deposit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposit_stats_emitter_bcr_month'), ['emitter_bcr', 'month'], unique=False)

    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f('uq_deposits_submitted_by_sha256'), ['submitted_by', 'sha256'])


def downgrade() -> None:
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_deposits_submitted_by_sha256'), type_='unique')

    with op.batch_alter_table('deposit_stats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_stats_emitter_bcr_month'))
        batch_op.drop_index(batch_op.f('ix_deposit_stats_deposit_id'))
        batch_op.drop_index(batch_op.f('ix_deposit_stats_certifier_bcr_month'))

    op.drop_table('deposit_stats')

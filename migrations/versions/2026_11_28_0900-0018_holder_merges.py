"""holder merges: a passport merged into the passport of the number that replaced its own

When the identity directory says a number replaced another (``nir_precedent``) and each
already has a passport, the identity import merged nothing and failed as a whole; the
passports are now merged (passport.holders.merge) and each merge recorded here. The former
holder row stays for its journal, which cannot move.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HOLDER_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'holder_merges',
        sa.Column('former_holder_id', HOLDER_ID, nullable=False),
        sa.Column('holder_id', HOLDER_ID, nullable=False),
        sa.Column('merged_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('moved', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()),
                                                  'postgresql'), nullable=False),
        sa.ForeignKeyConstraint(['former_holder_id'], ['holders.id'],
                                name=op.f('fk_holder_merges_former_holder_id_holders')),
        sa.ForeignKeyConstraint(['holder_id'], ['holders.id'],
                                name=op.f('fk_holder_merges_holder_id_holders')),
        sa.PrimaryKeyConstraint('former_holder_id', name=op.f('pk_holder_merges')),
    )
    op.create_index(op.f('ix_holder_merges_holder_id'), 'holder_merges', ['holder_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_holder_merges_holder_id'), table_name='holder_merges')
    op.drop_table('holder_merges')

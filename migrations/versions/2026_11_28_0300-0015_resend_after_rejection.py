"""resend after rejection: the same bytes are one deposit until it is rejected

A certifier whose file was rejected for a reason outside its bytes (an unknown certifier
the operator then registered, a stored copy lost) could not send it again: the same bytes
from the same uploader answered with the rejected deposit.  The unique constraint becomes
a partial unique index that leaves rejected deposits out.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-28 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status != 'REJETE'")


def upgrade() -> None:
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_constraint('uq_deposits_submitted_by_sha256', type_='unique')
        batch_op.create_index('uq_deposits_submitted_by_sha256', ['submitted_by', 'sha256'],
                              unique=True, sqlite_where=LIVE, postgresql_where=LIVE)


def downgrade() -> None:
    # Fails while a rejected file and its resending are both kept: remove one first.
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_index('uq_deposits_submitted_by_sha256')
        batch_op.create_unique_constraint('uq_deposits_submitted_by_sha256',
                                          ['submitted_by', 'sha256'])

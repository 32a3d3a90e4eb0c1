"""advisor follows requests: a consent request keeps the advisor login that redeemed it

So that the advisor can list the requests they made and see where each stands
(GET /api/v1/advisor/consent-requests).  Requests redeemed before have none and are not
listed.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-28 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('advisor_account_id',
                                      sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_consent_requests_advisor_account_id'),
                              ['advisor_account_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_consent_requests_advisor_account_id_accounts'), 'accounts',
            ['advisor_account_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('fk_consent_requests_advisor_account_id_accounts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_consent_requests_advisor_account_id'))
        batch_op.drop_column('advisor_account_id')

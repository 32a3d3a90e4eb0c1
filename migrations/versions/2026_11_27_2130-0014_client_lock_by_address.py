"""client lock by address: failed client authentications are counted per address

A client's own counter and lock let anyone who knew a certifier's BCR keep it from getting
tokens (five wrong secrets every 15 minutes).  Failures are now counted in rate buckets, per
client and address and per address (`passport.auth.oauth_views`); the client's columns go.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-27 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_auth_count')


def downgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_auth_count', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True),
                                      nullable=True))

"""refresh tokens: the access token issued with each

Ending a login (logout, revocation, a replayed refresh token or code) revoked its refresh
tokens only: the access tokens it had were good for their last minutes. Each refresh token
now names the access token issued with it, which is revoked with it. Rows from before
have none (their access tokens expired long ago).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_refresh_tokens') as batch:
        batch.add_column(sa.Column('access_jti', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_refresh_tokens') as batch:
        batch.drop_column('access_jti')

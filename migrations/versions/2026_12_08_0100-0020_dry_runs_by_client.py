"""dry runs by client: what one client has queued is bounded

``PASSPORT_DRY_RUNS_PENDING_MAX`` bounded the queued dry runs of all clients together, so
one client could take every place; each row now names its client by a keyed hash of its
address (as the rate limits do), never the address. Rows queued before have none.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('dry_runs') as batch:
        batch.add_column(sa.Column('client_key', sa.String(length=80), nullable=True))
        batch.create_index(batch.f('ix_dry_runs_client_key'), ['client_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('dry_runs') as batch:
        batch.drop_index(batch.f('ix_dry_runs_client_key'))
        batch.drop_column('client_key')

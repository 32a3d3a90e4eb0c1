"""passages by deposit: the analytics follow-up of a deposit no longer scans every passage

`passport.analytics.refresh.after_deposit` finds the holders a deposit touched from the
passages it brought (``deposit_id``) or withdrew (``withdrawn_by_deposit_id``); without an
index that was a scan of the whole table per deposit.  On PostgreSQL the indexes are built
``CONCURRENTLY`` (outside the migration's transaction): a store of millions of passages
keeps taking deposits while they build.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-27 21:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WITHDRAWN = sa.text("withdrawn_by_deposit_id IS NOT NULL")
INDEXES = ("ix_passages_deposit_id", "ix_passages_withdrawn_by_deposit_id")


def upgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        _create()
        return
    with op.get_context().autocommit_block():
        # Building waits for the transactions under way (a deposit being loaded) and can
        # take longer than the migrations' limits on a big table: no limit here, it does
        # not block writes.  A build that failed leaves an invalid index: dropped first.
        op.execute("SET lock_timeout = 0")
        op.execute("SET statement_timeout = 0")
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        _create(postgresql_concurrently=True)
        op.execute("SET lock_timeout = '4s'")
        op.execute("SET statement_timeout = '5min'")


def _create(**options: bool) -> None:
    op.create_index(op.f(INDEXES[0]), 'passages', ['deposit_id'], unique=False, **options)
    op.create_index(op.f(INDEXES[1]), 'passages', ['withdrawn_by_deposit_id'], unique=False,
                    postgresql_where=WITHDRAWN, sqlite_where=WITHDRAWN, **options)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(op.f(name), table_name='passages')

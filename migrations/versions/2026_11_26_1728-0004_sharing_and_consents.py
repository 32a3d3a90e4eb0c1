"""sharing and consents; journal_entries made append-only by the database

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 17:28:38.836957
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('journal_purge_permits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_journal_purge_permits'))
    )
    op.create_table('rate_buckets',
    sa.Column('key', sa.String(length=120), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('window_ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_rate_buckets'))
    )
    op.create_table('consents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=False),
    sa.Column('organisation_siret', sa.String(length=14), nullable=False),
    sa.Column('advisor_email', sa.String(length=320), nullable=True),
    sa.Column('sections', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('purpose_text', sa.String(length=500), nullable=True),
    sa.Column('given_via', sa.String(length=20), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_consents_holder_id_holders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    sa.UniqueConstraint('reference', name=op.f('uq_consents_reference'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_holder_id'), ['holder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_organisation_siret'), ['organisation_siret'], unique=False)

    op.create_table('shares',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('token_enc', sa.LargeBinary(), nullable=False),
    sa.Column('token_key_id', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=True),
    sa.Column('shown_name', sa.String(length=200), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('max_views', sa.Integer(), nullable=True),
    sa.Column('view_count', sa.Integer(), nullable=False),
    sa.Column('access_code_hash', sa.String(length=255), nullable=True),
    sa.Column('failed_codes', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_shares_holder_id_holders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shares')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_shares_token_hash'))
    )
    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shares_holder_id'), ['holder_id'], unique=False)

    op.create_table('consent_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('code_expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('organisation_siret', sa.String(length=14), nullable=True),
    sa.Column('advisor_email', sa.String(length=320), nullable=True),
    sa.Column('advisor_name', sa.String(length=255), nullable=True),
    sa.Column('sections', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('purpose', sa.String(length=40), nullable=True),
    sa.Column('purpose_text', sa.String(length=500), nullable=True),
    sa.Column('duration_days', sa.Integer(), nullable=True),
    sa.Column('consent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_consent_requests_consent_id_consents')),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_consent_requests_holder_id_holders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_requests')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_consent_requests_code_hash'))
    )
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_requests_holder_id'), ['holder_id'], unique=False)

    op.create_table('share_items',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('share_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('masked_fields', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_share_items_holder_id_holders')),
    sa.ForeignKeyConstraint(['share_id'], ['shares.id'], name=op.f('fk_share_items_share_id_shares')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_share_items'))
    )
    with op.batch_alter_table('share_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_share_items_share_id'), ['share_id'], unique=False)

    op.create_table('verification_codes',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('passage_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_verification_codes_holder_id_holders')),
    sa.ForeignKeyConstraint(['passage_id'], ['passages.id'], name=op.f('fk_verification_codes_passage_id_passages')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_verification_codes')),
    sa.UniqueConstraint('passage_id', name=op.f('uq_verification_codes_passage_id'))
    )
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_codes_holder_id'), ['holder_id'], unique=False)

    op.create_table('consent_receipts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('consent_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('event', sa.String(length=20), nullable=False),
    sa.Column('document', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_consent_receipts_consent_id_consents')),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_consent_receipts_holder_id_holders')),
    sa.ForeignKeyConstraint(['request_id'], ['consent_requests.id'], name=op.f('fk_consent_receipts_request_id_consent_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_receipts'))
    )
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_receipts_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_receipts_holder_id'), ['holder_id'], unique=False)

    _append_only_journal()


# journal_entries is append-only: UPDATE is always refused, DELETE and TRUNCATE only while
# the retention purge holds a permit in its own transaction (journal_purge_permits).
_PG_FUNCTION = """
CREATE FUNCTION journal_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'TRUNCATE') AND EXISTS (SELECT 1 FROM journal_purge_permits) THEN
        RETURN OLD;  -- a row trigger: let the DELETE through (ignored for TRUNCATE)
    END IF;
    RAISE EXCEPTION 'journal_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
_PG_TRIGGERS = (
    "CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries "
    "FOR EACH ROW EXECUTE FUNCTION journal_entries_append_only()",
    "CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries "
    "FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_append_only()",
)
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER journal_entries_no_update BEFORE UPDATE ON journal_entries "
    "BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: UPDATE refused'); END",
    "CREATE TRIGGER journal_entries_no_delete BEFORE DELETE ON journal_entries "
    "WHEN NOT EXISTS (SELECT 1 FROM journal_purge_permits) "
    "BEGIN SELECT RAISE(ABORT, 'journal_entries is append-only: DELETE refused'); END",
)


def _append_only_journal() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER journal_entries_no_truncate ON journal_entries")
        op.execute("DROP TRIGGER journal_entries_append_only ON journal_entries")
        op.execute("DROP FUNCTION journal_entries_append_only()")
    else:
        op.execute("DROP TRIGGER journal_entries_no_delete")
        op.execute("DROP TRIGGER journal_entries_no_update")
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_receipts_holder_id'))
        batch_op.drop_index(batch_op.f('ix_consent_receipts_consent_id'))

    op.drop_table('consent_receipts')
    with op.batch_alter_table('verification_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_codes_holder_id'))

    op.drop_table('verification_codes')
    with op.batch_alter_table('share_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_share_items_share_id'))

    op.drop_table('share_items')
    with op.batch_alter_table('consent_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_requests_holder_id'))

    op.drop_table('consent_requests')
    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shares_holder_id'))

    op.drop_table('shares')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_organisation_siret'))
        batch_op.drop_index(batch_op.f('ix_consents_holder_id'))

    op.drop_table('consents')
    op.drop_table('rate_buckets')
    op.drop_table('journal_purge_permits')

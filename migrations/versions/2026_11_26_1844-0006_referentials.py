"""referentials

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 18:44:34.638262
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('referential_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('version', sa.String(length=20), nullable=False),
    sa.Column('export_date', sa.Date(), nullable=True),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referential_imports'))
    )
    op.create_table('rome_domains',
    sa.Column('code', sa.String(length=3), nullable=False),
    sa.Column('label', sa.String(length=500), nullable=False),
    sa.Column('version', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_rome_domains'))
    )
    op.create_table('rome_items',
    sa.Column('code_ogr', sa.Integer(), nullable=False),
    sa.Column('nature', sa.String(length=12), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=255), nullable=True),
    sa.Column('sub_category', sa.String(length=255), nullable=True),
    sa.Column('macro_ogr', sa.Integer(), nullable=True),
    sa.Column('macro_code', sa.String(length=10), nullable=True),
    sa.Column('version', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('code_ogr', name=op.f('pk_rome_items'))
    )
    op.create_table('rome_jobs',
    sa.Column('code_rome', sa.String(length=5), nullable=False),
    sa.Column('code_ogr', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=500), nullable=False),
    sa.Column('parent', sa.String(length=5), nullable=True),
    sa.Column('version', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('code_rome', name=op.f('pk_rome_jobs'))
    )
    op.create_table('rome_links',
    sa.Column('code_rome', sa.String(length=5), nullable=False),
    sa.Column('code_ogr', sa.Integer(), nullable=False),
    sa.Column('rubrique', sa.Integer(), nullable=False),
    sa.Column('coeur_metier', sa.String(length=20), nullable=True),
    sa.Column('version', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('code_rome', 'code_ogr', name=op.f('pk_rome_links'))
    )
    op.create_table('rome_tree_labels',
    sa.Column('code', sa.String(length=10), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('label', sa.String(length=500), nullable=False),
    sa.Column('version', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_rome_tree_labels'))
    )
    op.create_table('referential_sheets',
    sa.Column('numero', sa.String(length=20), nullable=False),
    sa.Column('repertoire', sa.String(length=4), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('type_code', sa.String(length=40), nullable=True),
    sa.Column('type_label', sa.String(length=255), nullable=True),
    sa.Column('eqf_level', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=60), nullable=True),
    sa.Column('registration_type', sa.String(length=60), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('registration_end', sa.Date(), nullable=True),
    sa.Column('delivery_deadline', sa.Date(), nullable=True),
    sa.Column('attested_skills_text', sa.Text(), nullable=True),
    sa.Column('rome_codes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('formacodes', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('nsf', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('predecessors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('successors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('bloc_equivalences', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('export_date', sa.Date(), nullable=True),
    sa.Column('from_csv', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['referential_imports.id'], name=op.f('fk_referential_sheets_import_id_referential_imports')),
    sa.PrimaryKeyConstraint('numero', name=op.f('pk_referential_sheets'))
    )
    op.create_table('referential_sheet_blocks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('numero', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('option_label', sa.String(length=255), nullable=True),
    sa.Column('competences_text', sa.Text(), nullable=True),
    sa.Column('competences', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.ForeignKeyConstraint(['numero'], ['referential_sheets.numero'], name=op.f('fk_referential_sheet_blocks_numero_referential_sheets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referential_sheet_blocks'))
    )
    with op.batch_alter_table('referential_sheet_blocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referential_sheet_blocks_numero'), ['numero'], unique=False)

    op.create_table('referential_sheet_certifiers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('numero', sa.String(length=20), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('name', sa.String(length=500), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['numero'], ['referential_sheets.numero'], name=op.f('fk_referential_sheet_certifiers_numero_referential_sheets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_referential_sheet_certifiers'))
    )
    with op.batch_alter_table('referential_sheet_certifiers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_referential_sheet_certifiers_numero'), ['numero'], unique=False)
        batch_op.create_index(batch_op.f('ix_referential_sheet_certifiers_siret'), ['siret'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('referential_sheet_certifiers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referential_sheet_certifiers_siret'))
        batch_op.drop_index(batch_op.f('ix_referential_sheet_certifiers_numero'))

    op.drop_table('referential_sheet_certifiers')
    with op.batch_alter_table('referential_sheet_blocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_referential_sheet_blocks_numero'))

    op.drop_table('referential_sheet_blocks')
    op.drop_table('referential_sheets')
    op.drop_table('rome_tree_labels')
    op.drop_table('rome_links')
    op.drop_table('rome_jobs')
    op.drop_table('rome_items')
    op.drop_table('rome_domains')
    op.drop_table('referential_imports')

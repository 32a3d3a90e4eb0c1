"""initial store

Revision ID: 0001
Revises:
Create Date: 2026-11-26 16:48:46.813205
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('certifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=255), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('level', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certifications')),
    sa.UniqueConstraint('type', 'code', name=op.f('uq_certifications_type_code'))
    )
    op.create_table('certifiers',
    sa.Column('bcr', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('bcr', name=op.f('pk_certifiers'))
    )
    op.create_table('deposits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('submitted_by', sa.String(length=8), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('storage_path', sa.String(length=1024), nullable=True),
    sa.Column('emitter_bcr', sa.String(length=8), nullable=True),
    sa.Column('certifier_bcr', sa.String(length=8), nullable=True),
    sa.Column('contract_id', sa.String(length=20), nullable=True),
    sa.Column('id_flux', sa.String(length=50), nullable=True),
    sa.Column('horodatage', sa.String(length=40), nullable=True),
    sa.Column('action', sa.String(length=12), nullable=True),
    sa.Column('status', sa.Enum('RECU', 'EN_COURS', 'TRAITE', 'TRAITE_AVEC_ERREURS', 'REJETE', name='depositstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('passages_total', sa.Integer(), nullable=False),
    sa.Column('passages_ok', sa.Integer(), nullable=False),
    sa.Column('passages_ko', sa.Integer(), nullable=False),
    sa.Column('warnings_count', sa.Integer(), nullable=False),
    sa.Column('error_code', sa.String(length=40), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=100), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deposits'))
    )
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposits_certifier_bcr'), ['certifier_bcr'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposits_emitter_bcr'), ['emitter_bcr'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposits_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposits_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposits_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_deposits_submitted_by'), ['submitted_by'], unique=False)

    op.create_table('holders',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('nir_hmac', sa.String(length=64), nullable=False),
    sa.Column('nir_enc', sa.LargeBinary(), nullable=False),
    sa.Column('nir_key_id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holders')),
    sa.UniqueConstraint('nir_hmac', name=op.f('uq_holders_nir_hmac'))
    )
    op.create_table('identity_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('nir_hmac', sa.String(length=64), nullable=False),
    sa.Column('nir_enc', sa.LargeBinary(), nullable=False),
    sa.Column('nir_key_id', sa.String(length=32), nullable=False),
    sa.Column('nom_naissance', sa.String(length=100), nullable=False),
    sa.Column('nom_usage', sa.String(length=100), nullable=True),
    sa.Column('prenom1', sa.String(length=100), nullable=False),
    sa.Column('prenom2', sa.String(length=100), nullable=True),
    sa.Column('prenom3', sa.String(length=100), nullable=True),
    sa.Column('annee_naissance', sa.SmallInteger(), nullable=False),
    sa.Column('mois_naissance', sa.SmallInteger(), nullable=True),
    sa.Column('jour_naissance', sa.SmallInteger(), nullable=True),
    sa.Column('sexe', sa.String(length=1), nullable=False),
    sa.Column('code_insee_naissance', sa.String(length=5), nullable=True),
    sa.Column('code_pays_naissance', sa.String(length=3), nullable=True),
    sa.Column('match_key', sa.String(length=250), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("sexe IN ('M', 'F')", name=op.f('ck_identity_records_sexe')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_records')),
    sa.UniqueConstraint('nir_hmac', name=op.f('uq_identity_records_nir_hmac'))
    )
    with op.batch_alter_table('identity_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identity_records_match_key'), ['match_key'], unique=False)

    op.create_table('passage_keys',
    sa.Column('emitter_bcr', sa.String(length=8), nullable=False),
    sa.Column('id_technique', sa.String(length=255), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('emitter_bcr', 'id_technique', name=op.f('pk_passage_keys'))
    )
    op.create_table('certifier_contracts',
    sa.Column('certifier_bcr', sa.String(length=8), nullable=False),
    sa.Column('contract_id', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['certifier_bcr'], ['certifiers.bcr'], name=op.f('fk_certifier_contracts_certifier_bcr_certifiers')),
    sa.PrimaryKeyConstraint('certifier_bcr', 'contract_id', name=op.f('pk_certifier_contracts'))
    )
    op.create_table('deposit_reports',
    sa.Column('deposit_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.SmallInteger(), nullable=False),
    sa.Column('summary', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('outcomes', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_deposit_reports_deposit_id_deposits')),
    sa.PrimaryKeyConstraint('deposit_id', name=op.f('pk_deposit_reports'))
    )
    op.create_table('flux_receipts',
    sa.Column('emitter_bcr', sa.String(length=8), nullable=False),
    sa.Column('id_flux', sa.String(length=50), nullable=False),
    sa.Column('deposit_id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_flux_receipts_deposit_id_deposits')),
    sa.PrimaryKeyConstraint('emitter_bcr', 'id_flux', name=op.f('pk_flux_receipts'))
    )
    op.create_table('mandates',
    sa.Column('depositor_bcr', sa.String(length=8), nullable=False),
    sa.Column('certifier_bcr', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['certifier_bcr'], ['certifiers.bcr'], name=op.f('fk_mandates_certifier_bcr_certifiers')),
    sa.PrimaryKeyConstraint('depositor_bcr', 'certifier_bcr', name=op.f('pk_mandates'))
    )
    op.create_table('nir_aliases',
    sa.Column('nir_hmac', sa.String(length=64), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_nir_aliases_holder_id_holders')),
    sa.PrimaryKeyConstraint('nir_hmac', name=op.f('pk_nir_aliases'))
    )
    with op.batch_alter_table('nir_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nir_aliases_holder_id'), ['holder_id'], unique=False)

    op.create_table('passages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('deposit_id', sa.Integer(), nullable=False),
    sa.Column('certification_id', sa.Integer(), nullable=False),
    sa.Column('emitter_bcr', sa.String(length=8), nullable=False),
    sa.Column('certifier_bcr', sa.String(length=8), nullable=False),
    sa.Column('contract_id', sa.String(length=20), nullable=False),
    sa.Column('nature_deposant', sa.String(length=20), nullable=True),
    sa.Column('id_technique', sa.String(length=255), nullable=False),
    sa.Column('url_preuve', sa.String(length=255), nullable=True),
    sa.Column('libelle_option', sa.String(length=255), nullable=True),
    sa.Column('obtention_certification', sa.String(length=20), nullable=False),
    sa.Column('donnee_certifiee', sa.Boolean(), nullable=False),
    sa.Column('date_debut_examen', sa.Date(), nullable=True),
    sa.Column('date_fin_examen', sa.Date(), nullable=True),
    sa.Column('modalite_passage_examen', sa.String(length=20), nullable=True),
    sa.Column('code_postal_centre_examen', sa.String(length=9), nullable=True),
    sa.Column('date_debut_validite', sa.Date(), nullable=False),
    sa.Column('date_fin_validite', sa.Date(), nullable=True),
    sa.Column('presence_niveau_langue_euro', sa.Boolean(), nullable=False),
    sa.Column('niveau_langue_europeen', sa.String(length=11), nullable=True),
    sa.Column('presence_niveau_numerique_euro', sa.Boolean(), nullable=False),
    sa.Column('score_general', sa.Integer(), nullable=True),
    sa.Column('digcomp_resultats', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('scoring', sa.String(length=255), nullable=True),
    sa.Column('mention_validee', sa.String(length=60), nullable=True),
    sa.Column('modalite_acces', sa.String(length=60), nullable=True),
    sa.Column('voie_acces_vae', sa.String(length=20), nullable=True),
    sa.Column('initiative_inscription', sa.String(length=20), nullable=True),
    sa.Column('date_inscription', sa.Date(), nullable=True),
    sa.Column('identification', sa.String(length=30), nullable=False),
    sa.Column('id_dossier', sa.String(length=13), nullable=True),
    sa.Column('titulaire', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('verbatim', sa.String(length=255), nullable=True),
    sa.Column('warnings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by_deposit_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['deposit_id'], ['deposits.id'], name=op.f('fk_passages_deposit_id_deposits')),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_passages_holder_id_holders')),
    sa.ForeignKeyConstraint(['withdrawn_by_deposit_id'], ['deposits.id'], name=op.f('fk_passages_withdrawn_by_deposit_id_deposits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_passages'))
    )
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_passages_holder_id_emitter_bcr_id_technique'), ['holder_id', 'emitter_bcr', 'id_technique'], unique=False)

    op.create_table('training_files',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id_dossier', sa.String(length=13), nullable=False),
    sa.Column('holder_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('nom', sa.String(length=100), nullable=False),
    sa.Column('prenom', sa.String(length=100), nullable=False),
    sa.Column('certification_type', sa.String(length=255), nullable=False),
    sa.Column('certification_code', sa.String(length=100), nullable=False),
    sa.Column('siret_organisme', sa.String(length=14), nullable=True),
    sa.Column('date_entree', sa.Date(), nullable=True),
    sa.Column('date_sortie', sa.Date(), nullable=True),
    sa.Column('statut', sa.Enum('EN_COURS', 'TERMINE', 'ABANDON', name='trainingstatus', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['holder_id'], ['holders.id'], name=op.f('fk_training_files_holder_id_holders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_training_files')),
    sa.UniqueConstraint('id_dossier', name=op.f('uq_training_files_id_dossier'))
    )
    with op.batch_alter_table('training_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_training_files_certification_type_certification_code'), ['certification_type', 'certification_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_training_files_holder_id'), ['holder_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('training_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_training_files_holder_id'))
        batch_op.drop_index(batch_op.f('ix_training_files_certification_type_certification_code'))

    op.drop_table('training_files')
    with op.batch_alter_table('passages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_passages_holder_id_emitter_bcr_id_technique'))

    op.drop_table('passages')
    with op.batch_alter_table('nir_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nir_aliases_holder_id'))

    op.drop_table('nir_aliases')
    op.drop_table('mandates')
    op.drop_table('flux_receipts')
    op.drop_table('deposit_reports')
    op.drop_table('certifier_contracts')
    op.drop_table('passage_keys')
    with op.batch_alter_table('identity_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identity_records_match_key'))

    op.drop_table('identity_records')
    op.drop_table('holders')
    with op.batch_alter_table('deposits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposits_submitted_by'))
        batch_op.drop_index(batch_op.f('ix_deposits_status'))
        batch_op.drop_index(batch_op.f('ix_deposits_sha256'))
        batch_op.drop_index(batch_op.f('ix_deposits_received_at'))
        batch_op.drop_index(batch_op.f('ix_deposits_emitter_bcr'))
        batch_op.drop_index(batch_op.f('ix_deposits_certifier_bcr'))

    op.drop_table('deposits')
    op.drop_table('certifiers')
    op.drop_table('certifications')

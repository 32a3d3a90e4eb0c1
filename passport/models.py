"""Import every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from passport.certifiers.models import Certifier, CertifierContract, Mandate
from passport.db import Base
from passport.deposits.models import Deposit, DepositReport, DepositStatus, FluxReceipt
from passport.holders.models import Holder, IdentityRecord, NirAlias
from passport.records.models import Passage, PassageKey
from passport.referentials.models import Certification
from passport.training.models import TrainingFile, TrainingStatus

__all__ = [
    "Base",
    "Certification",
    "Certifier",
    "CertifierContract",
    "Deposit",
    "DepositReport",
    "DepositStatus",
    "FluxReceipt",
    "Holder",
    "IdentityRecord",
    "Mandate",
    "NirAlias",
    "Passage",
    "PassageKey",
    "TrainingFile",
    "TrainingStatus",
]

"""Import every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from passport.auth.models import (
    Account,
    AuthorizationCode,
    AuthorizationRequest,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
)
from passport.certifiers.models import Certifier, CertifierContract, Mandate
from passport.db import Base
from passport.deposits.models import Deposit, DepositReport, DepositStatus, FluxReceipt
from passport.holders.models import Holder, IdentityRecord, NirAlias
from passport.journal.models import JournalEntry
from passport.records.models import Declaration, ErrorReport, Passage, PassageKey
from passport.referentials.models import Certification
from passport.training.models import TrainingFile, TrainingStatus

__all__ = [
    "Account",
    "AuthorizationCode",
    "AuthorizationRequest",
    "Base",
    "Certification",
    "Certifier",
    "CertifierContract",
    "Declaration",
    "Deposit",
    "DepositReport",
    "DepositStatus",
    "ErrorReport",
    "FluxReceipt",
    "Holder",
    "IdentityRecord",
    "JournalEntry",
    "Mandate",
    "NirAlias",
    "OAuthClient",
    "Passage",
    "PassageKey",
    "RefreshToken",
    "RevokedAccessToken",
    "TrainingFile",
    "TrainingStatus",
]

"""Import every model so that ``Base.metadata`` is complete (Alembic, tests)."""

from passport.analytics.models import AnalyticsQuery, AnalyticsState, FileOutcome, LineageKey
from passport.auth.models import (
    Account,
    AuthorizationCode,
    AuthorizationRequest,
    OAuthClient,
    RefreshToken,
    RevokedAccessToken,
)
from passport.certifiers.models import Certifier, CertifierContract, Mandate
from passport.consents.models import Consent, ConsentReceipt, ConsentRequest
from passport.credentials.models import StatusEntry
from passport.cvs.models import CvDocument
from passport.db import Base
from passport.deposits.models import (
    Deposit,
    DepositReport,
    DepositReportPart,
    DepositStat,
    DepositStatus,
    FluxReceipt,
)
from passport.holders.models import Holder, HolderMerge, IdentityRecord, NirAlias
from passport.journal.models import JournalEntry, JournalPurgePermit
from passport.maintenance import MaintenanceRun
from passport.records.models import Declaration, ErrorReport, Passage, PassageKey
from passport.referentials.models import (
    Certification,
    ReferentialImport,
    RomeDomain,
    RomeItem,
    RomeJob,
    RomeLink,
    RomeTreeLabel,
    Sheet,
    SheetBlock,
    SheetCertifier,
)
from passport.sharing.models import RateBucket, Share, ShareItem, VerificationCode
from passport.training.models import TrainingFile, TrainingStatus

__all__ = [
    "Account",
    "AnalyticsQuery",
    "AnalyticsState",
    "AuthorizationCode",
    "AuthorizationRequest",
    "Base",
    "Certification",
    "Certifier",
    "CertifierContract",
    "Consent",
    "ConsentReceipt",
    "ConsentRequest",
    "CvDocument",
    "Declaration",
    "Deposit",
    "DepositReport",
    "DepositReportPart",
    "DepositStat",
    "DepositStatus",
    "ErrorReport",
    "FileOutcome",
    "FluxReceipt",
    "Holder",
    "HolderMerge",
    "IdentityRecord",
    "JournalEntry",
    "JournalPurgePermit",
    "LineageKey",
    "MaintenanceRun",
    "Mandate",
    "NirAlias",
    "OAuthClient",
    "Passage",
    "PassageKey",
    "RateBucket",
    "ReferentialImport",
    "RefreshToken",
    "RevokedAccessToken",
    "RomeDomain",
    "RomeItem",
    "RomeJob",
    "RomeLink",
    "RomeTreeLabel",
    "Share",
    "ShareItem",
    "Sheet",
    "SheetBlock",
    "SheetCertifier",
    "StatusEntry",
    "TrainingFile",
    "TrainingStatus",
    "VerificationCode",
]

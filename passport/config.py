"""Settings read from ``PASSPORT_*`` environment variables, with safe development defaults.

The same `Settings` object serves the web app, the CLI and the workers, so nothing here
imports Flask.  Production (``PASSPORT_ENV=production``) refuses to start with missing or
development secrets: see `Settings.check`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ingestion import DEFAULT_MAX_BYTES, DEFAULT_SUBPROCESS_MIN_BYTES

if TYPE_CHECKING:
    from ingestion.loader import IngestOptions

ENVIRONMENTS = ("development", "test", "production")

# Development keys are derived from public strings: anyone can recompute them, which is
# exactly why production refuses them.
_DEV_HMAC_KEY = hashlib.sha256(b"passport development NIR HMAC key").digest()
_DEV_ENC_KEY = hashlib.sha256(b"passport development NIR encryption key").digest()
_MIN_KEY_BYTES = 32
#: Key ids are stored beside each encrypted NIR (a 32-character column) and sent in bulk
#: as separated text (`passport.holders.service`): plain characters only.
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
#: A web origin as browsers send it (RFC 6454): lower-case scheme and host, a port maybe.
_ORIGIN = re.compile(r"https?://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def default_batch_size(database_url: str) -> int:
    """Passages per database round when ``PASSPORT_INGEST_BATCH_SIZE`` is not set.

    PostgreSQL: 2,000 (fewer round trips; 1,000 measured ~1 s slower per 100,000 passages).
    SQLite: 500, as fast there (9.9/11.5 s against 11.3/12.4 s with 1,000 on 100,000
    passages, alternated), and the loader's peak lower (its allocations per batch are what
    the process keeps once freed: 2,000 → 1,000 → 500 took 200,000 passages from 122 to
    112, then 99 → 94 MB)."""
    return 500 if database_url.startswith("sqlite") else 2000


class ConfigurationError(Exception):
    """A setting is missing, malformed or unsafe for the current environment."""


def _decode_key(name: str, value: str) -> bytes:
    """Decode a key given as base64 (standard or URL-safe) or hex."""
    value = value.strip()
    for decoder in (bytes.fromhex, base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decoder(value)
        except (ValueError, binascii.Error):
            continue
    raise ConfigurationError(f"{name} is neither hex nor base64")


def _parse_keyring(name: str, value: str) -> dict[str, bytes]:
    """Parse ``kid:key,kid:key`` into a mapping (old keys kept for decryption only)."""
    ring: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        kid, sep, key = item.partition(":")
        if not sep or not kid:
            raise ConfigurationError(f"{name}: expected kid:key pairs separated by commas")
        ring[kid] = _decode_key(name, key)
    return ring


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from exc


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name} must be a boolean, got {raw!r}")


@dataclass(frozen=True)
class UpstreamSettings:
    """An upstream OpenID provider we are a relying party of."""

    name: str
    issuer: str
    client_id: str
    client_secret: str
    #: FranceConnect only: the lowest ``acr`` accepted (eidas1 < eidas2 < eidas3).
    min_acr: str | None = None
    #: Scopes asked upstream.
    scope: str = "openid"


#: What we ask each provider for (FranceConnect names its scopes after the claims).
UPSTREAM_SCOPES = {
    "franceconnect": "openid given_name family_name preferred_username birthdate gender "
                     "birthplace birthcountry",
    "proconnect": "openid email given_name usual_name siret uid",
}


#: Default disclosure threshold of the analytics (``PASSPORT_ANALYTICS_MIN_CELL``).
ANALYTICS_MIN_CELL = 20
ACR_LEVELS = ("eidas1", "eidas2", "eidas3")
#: Shortest accepted scrape token (``PASSPORT_METRICS_TOKEN``).
_MIN_METRICS_TOKEN = 16


def _pem(name: str, value: str | None) -> str | None:
    """A PEM given inline or as ``@/path/to/file``."""
    if not value:
        return None
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_text()
        except OSError as exc:
            raise ConfigurationError(f"{name}: cannot read {value[1:]}: {exc.strerror}") from None
    return value


def _upstream(environ: Mapping[str, str], name: str, port: int, min_acr: str | None,
              production: bool) -> UpstreamSettings:
    prefix = f"PASSPORT_{name.upper()}_"
    acr = environ.get(prefix + "MIN_ACR", "eidas2" if production and min_acr else min_acr)
    if acr is not None and acr not in ACR_LEVELS:
        raise ConfigurationError(f"{prefix}MIN_ACR must be one of {', '.join(ACR_LEVELS)}")
    # The development stand-in (oidc-provider-mock) releases standard claims only under
    # the standard "profile" and "email" scopes, so development adds them.
    scope = UPSTREAM_SCOPES[name] + ("" if production else " profile email")
    return UpstreamSettings(
        name,
        environ.get(prefix + "ISSUER", f"http://127.0.0.1:{port}").rstrip("/"),
        environ.get(prefix + "CLIENT_ID", "passport-dev"),
        environ.get(prefix + "CLIENT_SECRET", "dev-secret"),
        acr if name == "franceconnect" else None,
        environ.get(prefix + "SCOPES", scope),
    )


@dataclass(frozen=True)
class Settings:
    """Every setting of the service; build it with `Settings.from_env`."""

    env: str = "development"
    instance_dir: Path = Path("instance")
    database_url: str = ""
    #: PostgreSQL: an HTTP request's statement is prepared on the server once it ran this
    #: many times on one connection (its plan is then reused); 0: never. Jobs and
    #: commands never prepare (a bulk load would keep a plan made while a table was empty).
    database_prepare_threshold: int = 5
    nir_hmac_key: bytes = _DEV_HMAC_KEY
    nir_encryption_key_id: str = "dev"
    nir_encryption_keys: Mapping[str, bytes] = field(default_factory=lambda: {"dev": _DEV_ENC_KEY})
    max_upload_bytes: int = DEFAULT_MAX_BYTES
    #: Any other request body (JSON, forms): it is parsed whole, into many times its size.
    max_body_bytes: int = 1024 * 1024
    storage_dir: Path = Path("instance/storage")
    flux_schema: str = "1.1.5"
    ingest_batch_size: int = 2000
    #: Files at least this big are parsed in a child process (-1: never).
    ingest_subprocess_min_bytes: int = DEFAULT_SUBPROCESS_MIN_BYTES
    log_level: str = "INFO"
    # -- identity and access --------------------------------------------------------
    #: Our issuer identifier (the public base URL of this service).
    issuer: str = "http://127.0.0.1:5000"
    #: The ``aud`` of our access tokens (the API as a resource server).
    api_audience: str = "http://127.0.0.1:5000/api"
    #: PEM of the EC P-256 key signing our tokens (None: a generated development key).
    signing_key_pem: str | None = None
    #: PEMs of retired signing keys (their public parts are enough), still published: what
    #: they signed — tokens, and credentials without an end date — keeps verifying.
    signing_old_keys_pem: tuple[str, ...] = ()
    access_token_ttl: int = 600
    refresh_token_ttl: int = 30 * 24 * 3600
    franceconnect: UpstreamSettings = field(
        default_factory=lambda: UpstreamSettings("franceconnect", "http://127.0.0.1:9400",
                                                 "passport-dev", "dev-secret", "eidas1")
    )
    proconnect: UpstreamSettings = field(
        default_factory=lambda: UpstreamSettings("proconnect", "http://127.0.0.1:9401",
                                                 "passport-dev", "dev-secret", None)
    )
    #: Emails of the analysts allowed in through ProConnect.
    analysts: frozenset[str] = frozenset()
    #: Origins of the browser front ends on other sites allowed to call the API and the
    #: token endpoint (CORS), e.g. ``https://app.example.fr``; none by default.
    cors_origins: tuple[str, ...] = ()
    #: Development-only shortcuts (``passport dev token``, the /demo page).
    dev_tools: bool = True
    #: Number of reverse proxies in front of the app (X-Forwarded-* trusted from them).
    proxy_fix: int = 0
    #: gunicorn kills a worker whose request runs longer (``passport serve``).  The slowest
    #: request is the dry-run validator on a 200,000-passage file with an error near its
    #: end: two passes, ~55 s on two slow cores (docs/operations.md).
    request_timeout: int = 300
    # -- sharing, consents, journal ---------------------------------------------------
    #: Verification look-ups allowed per client address and minute.
    verify_rate_per_minute: int = 30
    #: Journal entries older than this are purged by ``passport journal purge``.
    journal_retention_months: int = 12
    #: Received flux files are deleted this many days after their processing ended, by
    #: ``passport cleanup`` (0: kept); their deposits and reports stay.
    flux_file_retention_days: int = 30
    # -- deposit jobs ----------------------------------------------------------------
    #: Celery broker (``redis://…``); None: the web process runs jobs in its own pool.
    celery_broker_url: str | None = None
    #: Size of the in-process pool (web process without a broker, or ``passport worker``).
    worker_threads: int = 2
    #: A claim on a deposit lasts this long unless renewed (workers renew it while busy).
    job_lease_seconds: int = 300
    #: A deposit whose processing was interrupted this many times is rejected.
    job_max_attempts: int = 3
    #: How often workers look for deposits left behind (received but never queued, or
    #: abandoned by a dead worker).
    recover_every_seconds: int = 60
    #: Dry-run validations allowed per client address and minute.
    validate_rate_per_minute: int = 10
    #: Dry-run validations at once on one host; each holds a web worker while it runs (up
    #: to a minute for the largest files), the others keep serving the rest of the API.
    validate_concurrency: int = 2
    #: Queued dry runs (``Prefer: respond-async``) waiting or running at once, all clients
    #: together: each holds its upload on disk until checked (up to the upload limit).
    dry_runs_pending_max: int = 20
    #: Of those, how many one client address may have: one client alone cannot take
    #: every place.
    dry_runs_pending_per_client: int = 3
    #: How long a queued dry run's verdict can be fetched.
    dry_run_keep_hours: int = 24
    #: Ingestion: what the referentials object to (unknown code…) is KO, not a warning.
    referential_strict: bool = False
    # -- CVs -------------------------------------------------------------------------
    #: The seal signing CV PDFs (PEM key and certificate chain); generated in development.
    pdf_seal_key_pem: str | None = None
    pdf_seal_cert_pem: str | None = None
    # -- analytics -------------------------------------------------------------------
    #: Statistical disclosure control: cells under this many people are suppressed.
    analytics_min_cell: int = ANALYTICS_MIN_CELL
    # -- operations ------------------------------------------------------------------
    #: Bearer token of the Prometheus scraper (``GET /metrics``); None: metrics are off.
    metrics_token: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment)."""
        environ = os.environ if environ is None else environ
        env = environ.get("PASSPORT_ENV", "development")
        if env not in ENVIRONMENTS:
            raise ConfigurationError(f"PASSPORT_ENV must be one of {', '.join(ENVIRONMENTS)}")
        instance_dir = Path(environ.get("PASSPORT_INSTANCE_DIR", "instance"))
        database_url = environ.get("PASSPORT_DATABASE_URL") or (
            f"sqlite:///{(instance_dir / 'passport.sqlite3').resolve()}"
        )

        hmac_raw = environ.get("PASSPORT_NIR_HMAC_KEY")
        nir_hmac_key = _decode_key("PASSPORT_NIR_HMAC_KEY", hmac_raw) if hmac_raw else _DEV_HMAC_KEY

        enc_raw = environ.get("PASSPORT_NIR_ENCRYPTION_KEY")
        if enc_raw:
            key_id = environ.get("PASSPORT_NIR_ENCRYPTION_KEY_ID", "k1")
            keys = {key_id: _decode_key("PASSPORT_NIR_ENCRYPTION_KEY", enc_raw)}
        else:
            key_id, keys = "dev", {"dev": _DEV_ENC_KEY}
        old = _parse_keyring(
            "PASSPORT_NIR_ENCRYPTION_OLD_KEYS", environ.get("PASSPORT_NIR_ENCRYPTION_OLD_KEYS", "")
        )
        keys = {**old, **keys}

        flux_schema = environ.get("PASSPORT_FLUX_SCHEMA", "1.1.5")
        if flux_schema not in ("1.1.2", "1.1.5"):
            raise ConfigurationError("PASSPORT_FLUX_SCHEMA must be 1.1.2 or 1.1.5")

        production = env == "production"
        issuer = environ.get("PASSPORT_ISSUER", "http://127.0.0.1:5000").rstrip("/")
        old_keys = _pem("PASSPORT_SIGNING_OLD_KEYS", environ.get("PASSPORT_SIGNING_OLD_KEYS"))
        settings = cls(
            env=env,
            issuer=issuer,
            api_audience=environ.get("PASSPORT_API_AUDIENCE", f"{issuer}/api"),
            signing_key_pem=_pem("PASSPORT_SIGNING_KEY", environ.get("PASSPORT_SIGNING_KEY")),
            signing_old_keys_pem=tuple(
                "-----BEGIN" + block for block in (old_keys or "").split("-----BEGIN")[1:]
            ),
            access_token_ttl=_int(environ, "PASSPORT_ACCESS_TOKEN_TTL", 600),
            refresh_token_ttl=_int(environ, "PASSPORT_REFRESH_TOKEN_TTL", 30 * 24 * 3600),
            franceconnect=_upstream(environ, "franceconnect", 9400, "eidas1", production),
            proconnect=_upstream(environ, "proconnect", 9401, None, production),
            cors_origins=tuple(o.strip() for o in environ.get("PASSPORT_CORS_ORIGINS", "").split(",")
                               if o.strip()),
            analysts=frozenset(
                e.strip().lower() for e in environ.get("PASSPORT_ANALYSTS", "").split(",")
                if e.strip()
            ),
            dev_tools=env == "development",
            proxy_fix=_int(environ, "PASSPORT_PROXY_FIX", 0),
            request_timeout=_int(environ, "PASSPORT_REQUEST_TIMEOUT", 300),
            verify_rate_per_minute=_int(environ, "PASSPORT_VERIFY_RATE_PER_MINUTE", 30),
            journal_retention_months=_int(environ, "PASSPORT_JOURNAL_RETENTION_MONTHS", 12),
            flux_file_retention_days=_int(environ, "PASSPORT_FLUX_FILE_RETENTION_DAYS", 30),
            celery_broker_url=environ.get("PASSPORT_CELERY_BROKER_URL") or None,
            worker_threads=_int(environ, "PASSPORT_WORKER_THREADS", 2),
            job_lease_seconds=_int(environ, "PASSPORT_JOB_LEASE_SECONDS", 300),
            job_max_attempts=_int(environ, "PASSPORT_JOB_MAX_ATTEMPTS", 3),
            recover_every_seconds=_int(environ, "PASSPORT_RECOVER_EVERY_SECONDS", 60),
            validate_rate_per_minute=_int(environ, "PASSPORT_VALIDATE_RATE_PER_MINUTE", 10),
            validate_concurrency=_int(environ, "PASSPORT_VALIDATE_CONCURRENCY", 2),
            dry_runs_pending_max=_int(environ, "PASSPORT_DRY_RUNS_PENDING_MAX", 20),
            dry_runs_pending_per_client=_int(environ, "PASSPORT_DRY_RUNS_PENDING_PER_CLIENT", 3),
            dry_run_keep_hours=_int(environ, "PASSPORT_DRY_RUN_KEEP_HOURS", 24),
            referential_strict=_bool(environ, "PASSPORT_REFERENTIAL_STRICT", False),
            analytics_min_cell=_int(environ, "PASSPORT_ANALYTICS_MIN_CELL", ANALYTICS_MIN_CELL),
            pdf_seal_key_pem=_pem("PASSPORT_PDF_SEAL_KEY", environ.get("PASSPORT_PDF_SEAL_KEY")),
            pdf_seal_cert_pem=_pem("PASSPORT_PDF_SEAL_CERT",
                                   environ.get("PASSPORT_PDF_SEAL_CERT")),
            instance_dir=instance_dir,
            database_url=database_url,
            database_prepare_threshold=_int(environ, "PASSPORT_DATABASE_PREPARE_THRESHOLD", 5),
            nir_hmac_key=nir_hmac_key,
            nir_encryption_key_id=key_id,
            nir_encryption_keys=keys,
            max_upload_bytes=_int(environ, "PASSPORT_MAX_UPLOAD_BYTES", DEFAULT_MAX_BYTES),
            max_body_bytes=_int(environ, "PASSPORT_MAX_BODY_BYTES", 1024 * 1024),
            storage_dir=Path(environ.get("PASSPORT_STORAGE_DIR", str(instance_dir / "storage"))),
            flux_schema=flux_schema,
            ingest_batch_size=_int(environ, "PASSPORT_INGEST_BATCH_SIZE",
                                   default_batch_size(database_url)),
            ingest_subprocess_min_bytes=_int(
                environ, "PASSPORT_INGEST_SUBPROCESS_MIN_BYTES", DEFAULT_SUBPROCESS_MIN_BYTES
            ),
            log_level=environ.get("PASSPORT_LOG_LEVEL", "INFO"),
            metrics_token=environ.get("PASSPORT_METRICS_TOKEN") or None,
        )
        settings.check()
        return settings

    def derived_key(self, purpose: str) -> bytes:
        """A key of its own for one purpose (signing a cookie…), derived from the HMAC key."""
        return hmac.new(self.nir_hmac_key, f"passport:{purpose}:v1".encode(),
                        hashlib.sha256).digest()

    def ingest_options(self, schema_version: str | None = None) -> IngestOptions:
        """Ingestion options from these settings."""
        from ingestion.loader import IngestOptions

        threshold = self.ingest_subprocess_min_bytes
        return IngestOptions(
            schema_version=schema_version or self.flux_schema,
            batch_size=self.ingest_batch_size,
            max_bytes=self.max_upload_bytes,
            subprocess_min_bytes=None if threshold < 0 else threshold,
            referential_strict=self.referential_strict,
        )

    @property
    def is_production(self) -> bool:
        """True when running with production safety checks."""
        return self.env == "production"

    def check(self) -> None:
        """Refuse unsafe settings: production needs real, strong secrets and a server database."""
        if self.max_upload_bytes <= 0:
            raise ConfigurationError("PASSPORT_MAX_UPLOAD_BYTES must be positive")
        if self.database_prepare_threshold < 0:
            raise ConfigurationError("PASSPORT_DATABASE_PREPARE_THRESHOLD must be 0 or more")
        if self.ingest_batch_size <= 0:
            raise ConfigurationError("PASSPORT_INGEST_BATCH_SIZE must be positive")
        if not 30 <= self.access_token_ttl <= 3600:
            raise ConfigurationError("PASSPORT_ACCESS_TOKEN_TTL must be 30 to 3600 seconds")
        for name in ("worker_threads", "job_lease_seconds", "job_max_attempts",
                     "recover_every_seconds", "validate_rate_per_minute", "request_timeout",
                     "validate_concurrency", "dry_runs_pending_max",
                     "dry_runs_pending_per_client", "dry_run_keep_hours", "max_body_bytes"):
            if getattr(self, name) <= 0:
                raise ConfigurationError(f"PASSPORT_{name.upper()} must be positive")
        if self.verify_rate_per_minute <= 0:
            raise ConfigurationError("PASSPORT_VERIFY_RATE_PER_MINUTE must be positive")
        if self.analytics_min_cell < 1:
            raise ConfigurationError("PASSPORT_ANALYTICS_MIN_CELL must be at least 1")
        if self.is_production and self.analytics_min_cell < 11:
            raise ConfigurationError("PASSPORT_ANALYTICS_MIN_CELL must be at least 11 in "
                                     "production (disclosure control)")
        if not 1 <= self.journal_retention_months <= 120:
            raise ConfigurationError("PASSPORT_JOURNAL_RETENTION_MONTHS must be 1 to 120")
        if not 0 <= self.flux_file_retention_days <= 3650:
            raise ConfigurationError("PASSPORT_FLUX_FILE_RETENTION_DAYS must be 0 to 3650")
        if self.metrics_token is not None and (
                len(self.metrics_token) < _MIN_METRICS_TOKEN or not self.metrics_token.isprintable()
                or " " in self.metrics_token):
            raise ConfigurationError(f"PASSPORT_METRICS_TOKEN must be at least "
                                     f"{_MIN_METRICS_TOKEN} printable characters, no space")
        for origin in self.cors_origins:
            if not _ORIGIN.fullmatch(origin):
                raise ConfigurationError(
                    f"PASSPORT_CORS_ORIGINS: {origin!r} is not an origin (scheme://host[:port], "
                    "no path, no wildcard)")
            if self.is_production and not origin.startswith("https://"):
                raise ConfigurationError(f"PASSPORT_CORS_ORIGINS: {origin!r} must be https:// "
                                         "in production")
        if self.nir_encryption_key_id not in self.nir_encryption_keys:
            raise ConfigurationError("current NIR encryption key id has no key")
        for kid, key in self.nir_encryption_keys.items():
            if not _KEY_ID.fullmatch(kid):
                raise ConfigurationError(f"NIR encryption key id {kid!r} must be 1 to 32 "
                                         "letters, digits, '.', '_' or '-'")
            if len(key) not in (16, 24, 32):
                raise ConfigurationError(f"NIR encryption key {kid!r} must be 16, 24 or 32 bytes")
        if not self.is_production:
            return
        problems = []
        if self.nir_hmac_key == _DEV_HMAC_KEY:
            problems.append("PASSPORT_NIR_HMAC_KEY is not set")
        elif len(self.nir_hmac_key) < _MIN_KEY_BYTES:
            problems.append(f"PASSPORT_NIR_HMAC_KEY must hold at least {_MIN_KEY_BYTES} bytes")
        if _DEV_ENC_KEY in self.nir_encryption_keys.values():
            problems.append("PASSPORT_NIR_ENCRYPTION_KEY is not set (development key in use)")
        elif len(self.nir_encryption_keys[self.nir_encryption_key_id]) != 32:
            problems.append("PASSPORT_NIR_ENCRYPTION_KEY must be 32 bytes (AES-256-GCM)")
        if self.nir_hmac_key in self.nir_encryption_keys.values():
            problems.append("the NIR HMAC and encryption keys must differ")
        if not self.signing_key_pem:
            problems.append("PASSPORT_SIGNING_KEY is not set (tokens would be signed by a "
                            "generated development key)")
        if not self.issuer.startswith("https://"):
            problems.append("PASSPORT_ISSUER must be an https:// URL")
        if not (self.pdf_seal_key_pem and self.pdf_seal_cert_pem):
            problems.append("PASSPORT_PDF_SEAL_KEY and PASSPORT_PDF_SEAL_CERT are not set (CVs "
                            "would be sealed by a self-signed development certificate)")
        for upstream in (self.franceconnect, self.proconnect):
            prefix = f"PASSPORT_{upstream.name.upper()}_"
            if not upstream.issuer.startswith("https://"):
                problems.append(f"{prefix}ISSUER must be an https:// URL")
            if upstream.client_secret == "dev-secret":  # noqa: S105 -- the dev default refused
                problems.append(f"{prefix}CLIENT_SECRET is not set")
        if problems:
            raise ConfigurationError("refusing to start in production: " + "; ".join(problems))

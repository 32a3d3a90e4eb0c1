"""Settings: development defaults, production refuses unsafe ones."""

from __future__ import annotations

import pytest

from passport.config import ConfigurationError, Settings
from tests.conftest import production_environment

STRONG = {**production_environment(),
          "PASSPORT_DATABASE_URL": "postgresql+psycopg://passport@db/passport"}


def test_development_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "instance/passport.sqlite3")
    assert settings.max_upload_bytes == 250 * 1024 * 1024
    assert settings.flux_schema == "1.1.5"
    assert settings.database_prepare_threshold == 5
    assert Settings.from_env({"PASSPORT_DATABASE_PREPARE_THRESHOLD": "0"}
                             ).database_prepare_threshold == 0


def test_production_with_real_secrets_starts() -> None:
    settings = Settings.from_env(STRONG)
    assert settings.is_production
    assert settings.franceconnect.min_acr == "eidas2"
    assert settings.dev_tools is False


def test_development_accepts_a_lower_acr() -> None:
    assert Settings.from_env({}).franceconnect.min_acr == "eidas1"
    assert Settings.from_env({"PASSPORT_FRANCECONNECT_MIN_ACR": "eidas3"}).franceconnect.min_acr \
        == "eidas3"
    with pytest.raises(ConfigurationError, match="MIN_ACR"):
        Settings.from_env({"PASSPORT_FRANCECONNECT_MIN_ACR": "high"})


@pytest.mark.parametrize(
    ("missing", "message"),
    [("PASSPORT_NIR_HMAC_KEY", "PASSPORT_NIR_HMAC_KEY is not set"),
     ("PASSPORT_NIR_ENCRYPTION_KEY", "development key in use"),
     ("PASSPORT_SIGNING_KEY", "PASSPORT_SIGNING_KEY is not set"),
     ("PASSPORT_ISSUER", "PASSPORT_ISSUER must be an https:// URL"),
     ("PASSPORT_FRANCECONNECT_CLIENT_SECRET", "PASSPORT_FRANCECONNECT_CLIENT_SECRET is not set"),
     ("PASSPORT_PROCONNECT_ISSUER", "PASSPORT_PROCONNECT_ISSUER must be an https:// URL"),
     ("PASSPORT_PDF_SEAL_CERT", "PASSPORT_PDF_SEAL_KEY and PASSPORT_PDF_SEAL_CERT are not set")],
)
def test_production_refuses_development_keys(missing: str, message: str) -> None:
    env = {k: v for k, v in STRONG.items() if k != missing}
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_analytics_threshold_is_checked() -> None:
    assert Settings.from_env({}).analytics_min_cell == 20
    with pytest.raises(ConfigurationError, match="at least 1"):
        Settings.from_env({"PASSPORT_ANALYTICS_MIN_CELL": "0"})
    with pytest.raises(ConfigurationError, match="at least 11 in production"):
        Settings.from_env({**STRONG, "PASSPORT_ANALYTICS_MIN_CELL": "5"})


def test_production_refuses_weak_or_shared_keys() -> None:
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        Settings.from_env({**STRONG, "PASSPORT_NIR_HMAC_KEY": "11" * 8})
    with pytest.raises(ConfigurationError, match="must differ"):
        Settings.from_env({**STRONG, "PASSPORT_NIR_HMAC_KEY": "22" * 32})


@pytest.mark.parametrize(
    ("name", "value"),
    [("PASSPORT_ENV", "staging"), ("PASSPORT_MAX_UPLOAD_BYTES", "many"),
     ("PASSPORT_MAX_UPLOAD_BYTES", "0"), ("PASSPORT_FLUX_SCHEMA", "2.0"),
     ("PASSPORT_NIR_ENCRYPTION_KEY", "not-a-key!"), ("PASSPORT_NIR_ENCRYPTION_KEY", "aa" * 5),
     ("PASSPORT_DATABASE_PREPARE_THRESHOLD", "-1"),
     ("PASSPORT_DATABASE_PREPARE_THRESHOLD", "often")],
)
def test_bad_values_are_reported(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError):
        Settings.from_env({name: value})


@pytest.mark.parametrize("kid", ["k\x1f1", "k 1", "", "k" * 33, "clé"])
def test_encryption_key_ids_are_plain(kid: str) -> None:
    # Key ids go beside each encrypted NIR and, in bulk, as separated text.
    key = "aa" * 32
    with pytest.raises(ConfigurationError, match="key id"):
        Settings.from_env({"PASSPORT_NIR_ENCRYPTION_KEY": key,
                           "PASSPORT_NIR_ENCRYPTION_KEY_ID": kid})
    with pytest.raises(ConfigurationError):
        Settings.from_env({"PASSPORT_NIR_ENCRYPTION_OLD_KEYS": f"{kid}:{key}"})
    assert Settings.from_env({"PASSPORT_NIR_ENCRYPTION_KEY": key,
                              "PASSPORT_NIR_ENCRYPTION_KEY_ID": "2026-11.a_1"}
                             ).nir_encryption_key_id == "2026-11.a_1"


def test_ingest_batch_size_defaults_per_database() -> None:
    assert Settings.from_env({}).ingest_options().batch_size == 500  # SQLite
    assert Settings.from_env({"PASSPORT_DATABASE_URL": "postgresql+psycopg://p@db/p"}
                             ).ingest_options().batch_size == 2000
    assert Settings.from_env({"PASSPORT_INGEST_BATCH_SIZE": "250"}
                             ).ingest_options().batch_size == 250

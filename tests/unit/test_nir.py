"""NIR validation (python-stdnum), pseudonyms and authenticated encryption with rotation."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.exceptions import InvalidTag

from passport.config import Settings
from passport.nir import InvalidNir, NirVault, is_shaped, validate, with_key

NIR = "196113155500150"


@pytest.mark.parametrize("value", [NIR, "253072B07300470", "253072A07300443", "796113155500141"])
def test_valid(value: str) -> None:
    assert validate(value) == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [("196113155500151", "invalid NIR"), ("19611315550015", "15 characters"),
     ("396113155500150", "starts with 1, 2"), ("1 96 11 31 555 001 50", "15 characters"),
     ("253072C07300443", "invalid NIR")],
)
def test_invalid_never_echoes_the_value(value: str, reason: str) -> None:
    with pytest.raises(InvalidNir) as exc:
        validate(value)
    assert reason in str(exc.value)
    assert value not in str(exc.value)


def test_key_of_a_13_character_nir_including_corsica() -> None:
    assert with_key(NIR[:13]) == NIR
    assert with_key("253072B073004") == "253072B07300470"
    with pytest.raises(InvalidNir):
        with_key("25307")


def test_pseudonym_is_keyed_and_stable() -> None:
    settings = Settings.from_env({})
    other = dataclasses.replace(settings, nir_hmac_key=b"k" * 32)
    assert NirVault(settings).pseudonym(NIR) == NirVault(settings).pseudonym(NIR)
    assert NirVault(settings).pseudonym(NIR) != NirVault(other).pseudonym(NIR)
    assert len(NirVault(settings).pseudonym(NIR)) == 64


def test_encryption_round_trip_and_rotation() -> None:
    old = Settings.from_env({"PASSPORT_NIR_ENCRYPTION_KEY": "aa" * 32,
                             "PASSPORT_NIR_ENCRYPTION_KEY_ID": "2025"})
    blob = NirVault(old).encrypt(NIR)
    assert NIR.encode() not in blob
    assert NirVault(old).encrypt(NIR) != blob  # random nonce
    new = Settings.from_env({"PASSPORT_NIR_ENCRYPTION_KEY": "bb" * 32,
                             "PASSPORT_NIR_ENCRYPTION_KEY_ID": "2026",
                             "PASSPORT_NIR_ENCRYPTION_OLD_KEYS": "2025:" + "aa" * 32})
    vault = NirVault(new)
    assert vault.key_id == "2026"
    assert vault.decrypt("2025", blob) == NIR
    with pytest.raises(LookupError):
        NirVault(Settings.from_env({})).decrypt("2025", blob)


def test_tampered_ciphertext_is_refused() -> None:
    vault = NirVault(Settings.from_env({}))
    blob = bytearray(vault.encrypt(NIR))
    blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        vault.decrypt(vault.key_id, bytes(blob))


def test_leak_detector() -> None:
    assert is_shaped(f"holder {NIR} said")
    assert is_shaped("253072B07300470")
    assert not is_shaped("196113155500151")  # wrong key: not a NIR
    assert not is_shaped("id 1234567891011")


def test_masked_replaces_every_nir_and_nothing_else() -> None:
    from passport.nir import MASK, masked

    text = ("nir 196113155500150, id 123456789012345, key wrong 196113155500151, "
            "NIR2A 2690299341732 and 169022A34173264;")
    assert masked(text) == (f"nir {MASK}, id 123456789012345, key wrong 196113155500151, "
                            f"NIR2A 2690299341732 and {MASK};")
    assert not is_shaped(masked(text))

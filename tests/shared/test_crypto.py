"""Phone numbers at rest: randomised ciphertext, rotating keys, a stable lookup hash."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from shared.crypto import PhoneVault, mask_phone


def test_ciphertext_is_randomised_and_the_lookup_hash_is_stable():
    vault = PhoneVault(keys=Fernet.generate_key().decode(), hash_key="k" * 32)
    a, b = vault.encrypt("+447911123456"), vault.encrypt("+447911123456")
    assert a != b and "447911123456" not in a
    assert vault.decrypt(a) == vault.decrypt(b) == "+447911123456"
    assert vault.lookup_hash("+447911123456") == vault.lookup_hash("+447911123456")
    other = PhoneVault(keys=Fernet.generate_key().decode(), hash_key="other" * 8)
    assert other.lookup_hash("+447911123456") != vault.lookup_hash("+447911123456")


def test_keys_rotate_without_a_flag_day():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    before = PhoneVault(keys=old, hash_key="k")
    stored = before.encrypt("+33612345678")
    during = PhoneVault(keys=f"{new},{old}", hash_key="k")
    assert during.decrypt(stored) == "+33612345678"
    rotated = during.rotate(stored)
    after = PhoneVault(keys=new, hash_key="k")
    assert after.decrypt(rotated) == "+33612345678"
    with pytest.raises(ValueError):
        after.decrypt(stored)


def test_mask_keeps_only_the_last_two_digits():
    assert mask_phone("+447911123456") == "•••••••••••56"

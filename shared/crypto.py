"""Phone numbers at rest: encrypted with MultiFernet, looked up by a keyed hash."""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class PhoneVault:
    """Encrypts phone numbers for storage and hashes them for lookup.

    The ciphertext is randomised (Fernet), so equal numbers do not match in the
    database; the HMAC gives a stable lookup key that is useless without the key.
    """

    def __init__(self, *, keys: str, hash_key: str) -> None:
        fernets = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
        if not fernets:
            raise ValueError("at least one Fernet key is needed (WAYMARK_PHONE_KEYS)")
        self._fernet = MultiFernet(fernets)
        self._hash_key = hash_key.encode()

    def encrypt(self, e164: str) -> str:
        return self._fernet.encrypt(e164.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:  # a key was removed before re-encryption finished
            raise ValueError("phone number cannot be decrypted with the configured keys") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key (for a key-rotation job)."""
        return self._fernet.rotate(token.encode()).decode()

    def lookup_hash(self, e164: str) -> str:
        return hmac.new(self._hash_key, e164.encode(), hashlib.sha256).hexdigest()


def mask_phone(e164: str) -> str:
    """For display in logs and the log provider: keep only the last two digits."""
    return "•" * max(len(e164) - 2, 0) + e164[-2:]

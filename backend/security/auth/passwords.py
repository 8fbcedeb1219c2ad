"""Password hashing: argon2id (argon2-cffi's RFC 9106 defaults), a bounded number at a time."""

from __future__ import annotations

import secrets
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
# Each hash takes ~64 MiB and a core for tens of milliseconds: a burst of logins must not
# exhaust the machine's memory, so only a few run at once (the others wait their turn).
_SLOTS = threading.BoundedSemaphore(2)


@lru_cache(maxsize=1)
def _dummy() -> str:
    """Verifying an unknown user's password against this hash costs the same as a real check,
    so the answer time does not tell which user names exist (made on first use, not at import)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    with _SLOTS:
        return _HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (None: an unknown user, always False)."""
    with _SLOTS:
        try:
            _HASHER.verify(stored_hash or _dummy(), password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
    return stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def generate_password() -> str:
    """A password for the first user when none is configured (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)

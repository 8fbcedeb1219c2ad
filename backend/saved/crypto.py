"""The secrets key of saved connections: ``WIZARD_SECRET_KEY`` or a generated key file, and MultiFernet.

Every secret field is one Fernet token (AES-128-CBC + HMAC-SHA256: authenticated, from the
``cryptography`` library). ``WIZARD_SECRET_KEY`` holds comma-separated Fernet keys: the first
encrypts, any decrypts, so a key is rotated by prepending the new one, running
``python -m backend secrets rotate``, then dropping the old one.

Unset, one key is generated at the first start into a file of its own (mode 0600), never into
the database: a stolen database file (or dump) alone reveals no secret.

- SQLite ``sqlite:///path/wizard.db``: ``path/wizard.db.key``, beside the database file;
- any other database (PostgreSQL…) or an in-memory SQLite: ``.wizard/secret.key`` in the working folder.

Production deployments should set ``WIZARD_SECRET_KEY`` (and keep it out of the database's backups).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

DEFAULT_KEY_FILE = Path(".wizard/secret.key")


class KeyUnusable(Exception):
    """``WIZARD_SECRET_KEY`` is malformed, or the key file cannot be read or made."""


class CannotDecrypt(Exception):
    """No key decrypts this token: the key changed (or the token was altered)."""


def key_file_for(database_url: str) -> Path:
    """Where the generated key lives when ``WIZARD_SECRET_KEY`` is unset (see the module's docstring)."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(database_url)
    except Exception:  # noqa: BLE001 - an unparsable URL fails elsewhere with a clear message
        return DEFAULT_KEY_FILE
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return DEFAULT_KEY_FILE
    path = Path(database).expanduser()
    return path.with_name(path.name + ".key")


def _read_or_create(path: Path) -> str:
    """The key in ``path``; made (0600, atomically: two processes starting at once agree) when missing."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".key-", dir=path.parent)  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "w") as out:
            out.write(Fernet.generate_key().decode() + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic: the first process's key wins, the others read it
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def fingerprint(key: str) -> str:
    """A key's public name: 16 hex digits of a SHA-256 of it (stored beside the secrets it encrypted;
    it tells which key a secret needs and reveals nothing of the key)."""
    return hashlib.sha256(b"connection-wizard key id:" + key.strip().encode()).hexdigest()[:16]


class KeyRing:
    """The keys: :meth:`encrypt` with the first, :meth:`decrypt` with any."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise KeyUnusable("no key given")
        try:
            self._fernets = [Fernet(key.encode()) for key in keys]
            self.ids = [fingerprint(key) for key in keys]
            """Each key's fingerprint, in order: ``ids[0]`` is the key that encrypts."""
        except (ValueError, TypeError):
            raise KeyUnusable(
                "WIZARD_SECRET_KEY must be comma-separated Fernet keys (32 bytes in URL-safe base64, "
                'e.g. from python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
            ) from None
        self._multi = MultiFernet(self._fernets)

    @classmethod
    def from_settings(cls, secret_key: Sequence[SecretStr], database_url: str) -> KeyRing:
        """The keys of ``WIZARD_SECRET_KEY`` (split by ``Settings``), or the generated key file's (made on first use)."""
        if secret_key:
            return cls([k.get_secret_value() for k in secret_key])
        path = key_file_for(database_url)
        try:
            return cls([_read_or_create(path)])
        except OSError as exc:
            raise KeyUnusable(f"the key file {path} cannot be read or created ({exc.strerror})") from None

    def encrypt(self, value: str) -> str:
        return self._multi.encrypt(value.encode("utf-8", "surrogatepass")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8", "surrogatepass")
        except (InvalidToken, UnicodeError):
            raise CannotDecrypt("cannot decrypt: the key changed") from None

    def readable(self, token: str) -> bool:
        """Whether any key decrypts ``token``."""
        try:
            self.decrypt(token)
        except CannotDecrypt:
            return False
        return True

    def is_current(self, token: str) -> bool:
        """Whether the first key already decrypts ``token`` (rotation leaves it alone: idempotent)."""
        try:
            self._fernets[0].decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    @property
    def first_id(self) -> str:
        return self.ids[0]

    def key_id_of(self, token: str) -> str | None:
        """The fingerprint of the (first) key that decrypts ``token``; None if none does."""
        for key_id, fernet in zip(self.ids, self._fernets, strict=True):
            try:
                fernet.decrypt(token.encode("ascii"))
            except (InvalidToken, UnicodeError):
                continue
            return key_id
        return None

    def rotate(self, token: str) -> str:
        """``token`` encrypted with the first key (CannotDecrypt if no key reads it)."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise CannotDecrypt("cannot decrypt: the key changed") from None

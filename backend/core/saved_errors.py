"""What can go wrong with saved connections and the wizard's own store, in the domain's words.

The service (``backend/saved/service.py``), the store calls (``backend/store/calls.py``) and the
command line raise these (domain errors, each with its code: :mod:`backend.core.errors`); the
HTTP edge (``backend/api/errors.py``, ``DOMAIN_STATUSES``) maps each to its status, the command line
to its exit status. No exception text ever holds a
secret or the store URL.
"""

from __future__ import annotations

from backend.core.errors import DomainError
from backend.diagnosis.messages import Code


class SavedError(DomainError):
    """A refusal about saved connections: ``title`` (one line), ``body`` (what to do), ``details`` (per field)."""


class NotFound(SavedError):
    """No connection of the caller has this id (a missing id, a malformed one and another owner's alike)."""

    code = Code.NOT_FOUND

    def __init__(self) -> None:
        super().__init__("Not found", "There is no saved connection with this id.")


class PreconditionFailed(SavedError):
    """``If-Match`` names a version that is no longer the connection's: someone else changed it."""

    code = Code.PRECONDITION_FAILED

    def __init__(self, current: int) -> None:
        super().__init__(
            "Changed by someone else",
            f"This connection was changed since you read it (it is now at version {current}). Nothing was changed: "
            "read it again, then repeat your change.",
        )
        self.current = current


class InvalidSaved(SavedError):
    """A body that the schema accepts but the saved connections do not (a duplicate name, a mask that cannot stand)."""

    code = Code.INVALID_PARAMETERS

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__(
            "Some settings are not valid", f"Correct these fields and try again: {', '.join(details)}.", details
        )


class CannotDecryptSecrets(SavedError):
    """The stored secrets at ``paths`` cannot be decrypted with any configured key: the user must enter them again."""

    code = Code.CANNOT_DECRYPT
    TITLE = "Cannot decrypt: the key changed"

    def __init__(self, paths: list[str]) -> None:
        fields = ", ".join(f"connection.{p}" for p in paths)
        super().__init__(
            self.TITLE,
            f"The stored value of {fields} cannot be decrypted with the wizard's secret key (WIZARD_SECRET_KEY "
            "changed, or lost the key it was saved with). Enter it again: edit the connection with the new value.",
            {f"connection.{p}": ["Cannot decrypt: the key changed. Enter this secret again."] for p in paths},
        )
        self.paths = paths


class SecretKeyUnusable(SavedError):
    """``WIZARD_SECRET_KEY`` is malformed or the key file unusable (why is in the log, not in the answer)."""

    code = Code.SERVICE_BUSY

    def __init__(self) -> None:
        super().__init__(
            "Saved connections are unavailable",
            "The wizard's secret key cannot be used. An administrator must fix WIZARD_SECRET_KEY (the wizard's log "
            "says what is wrong with it).",
            retry_after=60,
        )


class StoreUnavailable(SavedError):
    """The wizard's own store did not answer within ``WIZARD_STORE_TIMEOUT_S``, or failed."""

    code = Code.STORE_UNAVAILABLE

    def __init__(self, what: str, retry_after_s: int) -> None:
        super().__init__(f"The {what} is unavailable", f"The wizard cannot reach its {what}. Try again shortly.",
                         retry_after=retry_after_s)
        self.retry_after_s = retry_after_s


class KeyRequired(SystemExit):
    """No start without ``WIZARD_SECRET_KEY`` on a shared store: each process would make a key of its own."""

    def __init__(self) -> None:
        super().__init__(
            "error: WIZARD_SECRET_KEY must be set when WIZARD_DATABASE_URL is not SQLite (every process sharing the "
            "store needs the same key; generate one with python -c \"from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())\")"
        )

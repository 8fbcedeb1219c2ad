"""The domain's refusals: what a service raises when it will not do what it was asked.

They speak no HTTP: no status, no header, no FastAPI. The edges translate them —
``backend.api.errors.install`` into a status and an ApplicationMessage (``Retry-After`` from
:attr:`DomainError.retry_after`), the command line into an exit status. A service of another
package defines its own subclasses here or beside it and registers their statuses in
``backend/api/errors.py`` (``DOMAIN_STATUSES``).
"""

from __future__ import annotations

from backend.diagnosis.messages import Code


class DomainError(Exception):
    """A refusal with a stable ``code``, a short ``title``, a plain-words ``body`` and the fields to blame."""

    code: Code = Code.UNEXPECTED_ERROR

    def __init__(
        self,
        title: str,
        body: str,
        details: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
        code: Code | None = None,
    ) -> None:
        super().__init__(title)
        self.title, self.body, self.details, self.retry_after = title, body, details, retry_after
        if code is not None:
            self.code = code


class Busy(DomainError):
    """More tests in flight than ``WIZARD_MAX_CONCURRENT_TESTS`` (or the store of saved connections
    is unusable for now): try again in ``retry_after`` seconds."""

    code = Code.SERVICE_BUSY

    def __init__(self, retry_after: int, title: str | None = None, body: str | None = None) -> None:
        super().__init__(
            title or "Too many tests at once",
            body or f"The wizard is running as many connection tests as it may. Try again in {retry_after} s.",
            retry_after=retry_after,
        )


class RateLimited(DomainError):
    """More tests by one user in a minute than ``WIZARD_TEST_RATE_PER_MINUTE``."""

    code = Code.TOO_MANY_REQUESTS

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many tests",
            f"You have run as many connection tests as allowed in a minute. Try again in {retry_after} s.",
            retry_after=retry_after,
        )


class InvalidParameters(DomainError):
    """A request the service refuses field by field (beyond what its schema says)."""

    code = Code.INVALID_PARAMETERS

    def __init__(self, details: dict[str, list[str]]) -> None:
        super().__init__("Some settings are not valid",
                         f"Correct these fields and try again: {', '.join(details)}.", details)

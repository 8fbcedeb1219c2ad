"""Every error the API returns is an ApplicationMessage: the exception handlers.

HTTP lives here, at the edge: the services raise the domain's refusals (``backend.core.errors``),
and :data:`DOMAIN_STATUSES` says which status each one answers. This module does not import the
connector registry: the request union's tags (``connector_type`` values) are handed to
:func:`install` (and to :func:`validation_details` by callers outside the app, e.g. the CLI).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.core import saved_errors
from backend.core.errors import Busy, DomainError, InvalidParameters, RateLimited
from backend.diagnosis.messages import Code
from backend.security.secrets import scrub
from backend.spec import validation
from backend.spec.schemas import ApplicationMessage, Display, SystemMessageKind
from backend.spec.validation import validation_details

log = logging.getLogger("wizard.api")


class APIError(Exception):
    """An HTTP-level refusal with an ApplicationMessage body."""

    def __init__(
        self,
        status: int,
        code: Code,
        title: str,
        body: str,
        details: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(title)
        self.status, self.code, self.title, self.body = status, code, title, body
        self.details, self.headers = details, headers


def message_response(
    status: int,
    code: Code | str,
    title: str,
    body: str,
    details: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
    kind: SystemMessageKind = SystemMessageKind.error,
) -> JSONResponse:
    msg = application_message(code, title, body, details, kind)
    return JSONResponse(msg.model_dump(mode="json"), status_code=status, headers=headers)


def application_message(
    code: Code | str,
    title: str,
    body: str,
    details: dict[str, list[str]] | None = None,
    kind: SystemMessageKind = SystemMessageKind.error,
) -> ApplicationMessage:
    """An answer that is not a test's verdict: ``display`` is ``field`` when it names fields."""
    return ApplicationMessage(
        code=code.value if isinstance(code, Code) else code,
        title=title,
        body=body,
        kind=kind,
        details=details,
        display=Display.field if details else Display.notification,
    )


DOMAIN_STATUSES: dict[type[DomainError], int] = {
    Busy: 503,
    RateLimited: 429,
    InvalidParameters: 422,
    # Saved connections and the store (docs/design.md, "Saved connections", "The store under faults").
    saved_errors.NotFound: 404,
    saved_errors.PreconditionFailed: 412,
    saved_errors.InvalidSaved: 422,
    saved_errors.CannotDecryptSecrets: 409,
    saved_errors.SecretKeyUnusable: 503,
    saved_errors.StoreUnavailable: 503,
}
"""The HTTP status of each domain refusal (the nearest registered class of an exception's MRO wins;
an unregistered one answers 500). A package with refusals of its own adds them here, in one block."""

def status_of(exc: DomainError) -> int:
    return next((DOMAIN_STATUSES[c] for c in type(exc).__mro__ if c in DOMAIN_STATUSES), 500)


def invalid_parameters_message(details: dict[str, list[str]]) -> ApplicationMessage:
    """The 422 answer's ApplicationMessage (also what ``python -m backend test`` prints for a bad body)."""
    return application_message(Code.INVALID_PARAMETERS, "Some settings are not valid",
                               f"Correct these fields and try again: {', '.join(details)}.", details)


def invalid_parameters_error(details: dict[str, list[str]]) -> APIError:
    """The same 422 answer, raised from a service (a body checked beyond its schema)."""
    message = invalid_parameters_message(details)
    return APIError(422, Code.INVALID_PARAMETERS, message.title, message.body, details=details)


def invalid_parameters(details: dict[str, list[str]]) -> JSONResponse:
    return JSONResponse(invalid_parameters_message(details).model_dump(mode="json"), status_code=422)


def install(app: FastAPI, tags: Iterable[str]) -> None:
    """The exception handlers; ``tags``: the request union's discriminator tags (every ``connector_type``)."""
    validation.set_union_tags(tags)

    @app.exception_handler(DomainError)
    async def on_domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status = status_of(exc)
        if status == 500:
            log.error("unregistered domain error %s on %s", type(exc).__name__, request.url.path)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return message_response(status, exc.code, exc.title, exc.body, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return invalid_parameters(validation_details(exc.errors()))

    @app.exception_handler(APIError)
    async def on_api_error(request: Request, exc: APIError) -> JSONResponse:
        return message_response(exc.status, exc.code, exc.title, exc.body, exc.details, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: Code.NOT_FOUND, 401: Code.NOT_AUTHENTICATED, 413: Code.REQUEST_TOO_LARGE}.get(
            exc.status_code, Code.UNEXPECTED_ERROR
        )
        return message_response(exc.status_code, code, str(exc.detail), str(exc.detail), headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Exception)
    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled %s on %s: %s", type(exc).__name__, request.url.path, scrub(str(exc)))
        return message_response(
            500, Code.UNEXPECTED_ERROR, "Internal error", "The wizard hit an internal error. It has been logged."
        )

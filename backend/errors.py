"""Every error the API returns is an ApplicationMessage: the exception handlers.

HTTP lives here, at the edge: the services raise the domain's refusals (``backend.core.errors``),
and :data:`DOMAIN_STATUSES` says which status each one answers. This module does not import the
connector registry: the request union's tags (``connector_type`` values) are handed to
:func:`install` (and to :func:`validation_details` by callers outside the app, e.g. the CLI).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.core.errors import Busy, DomainError, InvalidParameters, RateLimited
from backend.messages import Code
from backend.schemas import ApplicationMessage, Display, SystemMessageKind
from backend.secrets import scrub

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
}
"""The HTTP status of each domain refusal (the nearest registered class of an exception's MRO wins;
an unregistered one answers 500). A package with refusals of its own adds them here, in one block."""

_union_tags: tuple[str, ...] = ()
"""The request union's discriminator tags (every ``connector_type``), as :func:`install` was given them."""


def status_of(exc: DomainError) -> int:
    return next((DOMAIN_STATUSES[c] for c in type(exc).__mro__ if c in DOMAIN_STATUSES), 500)


def field_path(loc: Sequence[Any], tags: Collection[str] | None = None) -> str:
    """``("body", "PostgreSQLConnector", "hooks_params", "SSL", "ca")`` → ``hooks_params.SSL.ca``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    tags = set(_union_tags if tags is None else tags)
    parts = [p for p in parts if p not in tags and not p.startswith("function-")]
    return ".".join(parts) or "body"


_READABLE = {
    "missing": "This field is required.",
    "string_too_short": "This field may not be empty.",
    "json_invalid": "The request body is not valid JSON.",
    "model_attributes_type": "Expected an object with the connector's fields.",
    "dict_type": "Expected an object.",
}


def readable(error: dict[str, Any], tags: Collection[str] | None = None) -> str:
    kind = error.get("type", "")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        expected = str((error.get("ctx") or {}).get("expected_tags", "")).replace("'", "")
        valid = expected or ", ".join(_union_tags if tags is None else tags)
        return f"connector_type must be one of: {valid}."
    if kind in _READABLE:
        return _READABLE[kind]
    msg = str(error.get("msg", "Invalid value."))
    return msg[0].upper() + msg[1:] + ("" if msg.endswith(".") else ".")


def validation_details(errors: Iterable[dict[str, Any]], tags: Collection[str] | None = None) -> dict[str, list[str]]:
    """pydantic's errors by field path; ``tags``: the union's tags, :func:`install`'s by default."""
    details: dict[str, list[str]] = {}
    for error in errors:
        loc = error.get("loc", ())
        path = field_path(loc, tags)
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            # The union's own place, if nested (a saved connection's `connection.connector_type`).
            path = "connector_type" if path == "body" else f"{path}.connector_type"
        elif error.get("type") == "json_invalid":
            path = "body"
        messages = details.setdefault(path, [])
        text = readable(error, tags)
        if text not in messages:
            messages.append(text)
    return details


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
    global _union_tags
    _union_tags = tuple(tags)

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

    # Saved connections and the store (issue 18): domain exceptions mapped at the edge.
    from backend.saved import errors as saved_errors

    saved_status: dict[type[saved_errors.SavedError], tuple[int, Code]] = {
        saved_errors.NotFound: (404, Code.NOT_FOUND),
        saved_errors.PreconditionFailed: (412, Code.PRECONDITION_FAILED),
        saved_errors.InvalidSaved: (422, Code.INVALID_PARAMETERS),
        saved_errors.CannotDecryptSecrets: (409, Code.CANNOT_DECRYPT),
        saved_errors.SecretKeyUnusable: (503, Code.SERVICE_BUSY),
        saved_errors.StoreUnavailable: (503, Code.STORE_UNAVAILABLE),
    }

    @app.exception_handler(saved_errors.SavedError)
    async def on_saved_error(request: Request, exc: saved_errors.SavedError) -> JSONResponse:
        status, code = saved_status.get(type(exc), (500, Code.UNEXPECTED_ERROR))
        headers: dict[str, str] = {}
        if isinstance(exc, saved_errors.StoreUnavailable):
            headers["Retry-After"] = str(exc.retry_after_s)
        elif isinstance(exc, saved_errors.SecretKeyUnusable):
            headers["Retry-After"] = "60"
        return message_response(status, code, exc.title, exc.body, exc.details, headers or None)

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

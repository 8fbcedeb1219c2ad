"""Log records that can be followed across processes: the request id on each, JSON on request.

- :func:`install_request_ids` stamps ``record.request_id`` on every record of the process when it
  is made (a record factory, like the secret scrubbing of :mod:`backend.security.secrets`): whichever
  logger writes it, in whichever thread, as long as the thread runs in the request's context.
- :class:`JsonLogFormatter` (``WIZARD_LOG_FORMAT=json``) writes one JSON object per line through
  python-json-logger. It prints only fields the wizard knows to be clean: the message and the
  exception text as :mod:`backend.security.secrets` scrubbed them (the very filter of text mode), and the
  audit fields of a test, which the service built from values it scrubbed itself.
- :class:`QuietProbes` keeps load balancers' and Prometheus' probes out of the access log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from backend.logrecords import on_every_record
from backend.ops.context import NO_ID, current_request_id
from backend.security.secrets import scrub

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
AUDIT_FIELDS = ("user", "connector", "host", "code", "duration_ms")
"""The audit line's values, passed as ``extra`` by ``backend.diagnosis.service``: separate keys in JSON."""
PROBE_PATHS = ("/api/v1/live/", "/api/v1/ready/")

def install_request_ids() -> None:
    """Give every log record of the process the request id of its context (idempotent)."""
    on_every_record("request-id", _with_request_id)


def _with_request_id(record: logging.LogRecord) -> logging.LogRecord:
    record.request_id = current_request_id()
    return record


def text_formatter() -> logging.Formatter:
    # A record made before install_request_ids (or by a foreign factory) still formats.
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": NO_ID})


class JsonLogFormatter(JsonFormatter):
    """``{"time", "level", "logger", "message", "request_id"}``, the audit fields of a test as keys,
    and ``exc_info`` / ``stack_info`` when there is a traceback; nothing else of the record.

    Other attributes a library attaches to its records (``extra``) are not printed: they never went
    through the secret filter, which cleans the message, its arguments and the exception text.
    """

    def __init__(self) -> None:
        super().__init__(["message"])

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.getMessage() if isinstance(record.msg, dict) else record.message
        log_data["request_id"] = getattr(record, "request_id", NO_ID)
        for key in AUDIT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                # Scrubbed as the audit line's text is: credential-looking patterns only.
                log_data[key] = scrub(value) if isinstance(value, str) else value
        for key in ("exc_info", "stack_info"):  # as backend.security.secrets scrubbed them
            if key in message_dict:
                log_data[key] = message_dict[key]


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of ``WIZARD_LOG_FORMAT``: ``json`` or ``text``."""
    return JsonLogFormatter() if log_format == "json" else text_formatter()


class QuietProbes(logging.Filter):
    """Drops uvicorn's access-log lines of the liveness and readiness probes (one every few
    seconds from every load balancer: they would drown the lines that matter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access logs (client_addr, method, full_path, http_version, status_code).
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            return not args[2].startswith(PROBE_PATHS)
        return True


class WizardHandler(logging.StreamHandler):
    """The wizard's own handler (standard error): the one whose format ``WIZARD_LOG_FORMAT`` sets.

    A class of its own, so that handlers added by others (a test's capture, an operator's
    logging config) keep the format they chose.
    """


def uvicorn_formatters(log_format: str) -> None:
    """Give uvicorn's own handlers the request id (text) or the JSON format.

    Only handlers whose formatter is uvicorn's (set by its logging config, which runs before the
    app is imported under ``uvicorn backend.main:app``) are touched.
    """
    try:
        from uvicorn.logging import AccessFormatter, ColourizedFormatter
    except ImportError:  # pragma: no cover - uvicorn is a dependency
        return
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            current = handler.formatter
            if not isinstance(current, ColourizedFormatter):
                continue
            if log_format == "json":
                handler.setFormatter(JsonLogFormatter())
            elif isinstance(current, AccessFormatter) and "request_id" not in (current._fmt or ""):
                fmt = '%(levelprefix)s [%(request_id)s] %(client_addr)s - "%(request_line)s" %(status_code)s'
                handler.setFormatter(AccessFormatter(fmt, use_colors=current.use_colors))


def configure(logger: logging.Logger, log_format: str, make_handler: Callable[[], logging.Handler]) -> None:
    """Request ids on every record, probes out of the access log, and ``WIZARD_LOG_FORMAT`` applied:
    to the wizard's handler (made by ``make_handler`` if it has none), uvicorn's handlers and, in
    JSON mode, a root handler for other libraries' warnings (which would otherwise print bare text).
    """
    install_request_ids()
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, QuietProbes) for f in access.filters):
        access.addFilter(QuietProbes())
    if not any(isinstance(h, WizardHandler) for h in logger.handlers):
        logger.addHandler(make_handler())
        logger.propagate = False
    for handler in logger.handlers:
        if isinstance(handler, WizardHandler):
            handler.setFormatter(formatter(log_format))
    uvicorn_formatters(log_format)
    root = logging.getLogger()
    if log_format == "json" and not root.handlers:
        handler = make_handler()
        handler.setFormatter(JsonLogFormatter())
        root.addHandler(handler)

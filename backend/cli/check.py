"""``python -m backend test``: the diagnosis of ``POST …/test/``, in-process, for scripts and CI.

The connection comes from ``--uri`` (read by :mod:`backend.spec.uri`, the paste box's own parser),
``--body FILE|-`` (a ``Create…Connector`` JSON body) or ``--saved NAME`` (a saved connection of
``--user``, the admin by default; its verdict becomes its ``last_test``, as with
``POST …/{id}/test/``, so the Connections page shows a test a script ran). A password the URI or
body leaves out comes from ``WIZARD_TEST_PASSWORD``, else from one line of standard input with
``--password-stdin``: a password typed into a command line is visible to every user of the
machine (``ps``), so one found in the URI works but earns a warning.

The test is the API's own (:class:`backend.diagnosis.service.ConnectionTester` with the ``WIZARD_*``
settings: deadline, target policy, files folder), streamed: each stage is printed as it settles
(a live timeline with ``rich`` on a terminal, plain lines otherwise), then the verdict, or with
``--json`` exactly the ApplicationMessage the API would answer. Everything printed is masked
with the request's secrets, as the API masks its answers.

Exit status (docs/design.md, "Command line"): 0 ``CONNECTION_SUCCESSFUL``, 2 ``INVALID_PARAMETERS``
(an unreadable URI or body, a missing saved connection included), 1 any other verdict, 130 when
interrupted (Ctrl-C: the test is cancelled and its tunnel and temporary files cleaned up).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from backend.settings import Settings
from backend.spec.schemas import ApplicationMessage

if TYPE_CHECKING:
    from backend.security.secrets import Masker

SUCCESS, FAILED, INVALID, INTERRUPTED = 0, 1, 2, 130
PASSWORD_WARNING = (
    "warning: the URI holds a password, and command lines are visible to other users of this machine; "
    "give it with WIZARD_TEST_PASSWORD or --password-stdin instead"
)
_SYMBOLS = {"passed": "✔", "failed": "✘", "warning": "!", "skipped": "·"}
_STYLES = {"passed": "green", "failed": "bold red", "warning": "yellow", "skipped": "dim"}


KeepVerdict = Callable[[ApplicationMessage], None]
"""Keeps a ``--saved`` connection's verdict as its ``last_test`` (``SavedConnections.record``)."""


class StoreUnavailable(Exception):
    """Exit 1: the saved connections' store cannot be read (not the caller's input)."""


class BadInput(Exception):
    """Exit 2: the connection could not be read. ``details`` names the fields, as a 422 does."""

    def __init__(self, message: str, details: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "test",
        help="Test a connection in-process: the same diagnosis as POST …/test/, no server.",
        description="Test a connection stage by stage and print the verdict. Exit status: 0 connected, "
                    "1 another verdict, 2 invalid parameters (an unreadable URI or body included), 130 interrupted.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--uri", metavar="URI", help="a connection URI, e.g. 'postgresql://etl@db.example.com:5432/"
                                                     "sales' (jdbc: forms too); leave the password out of it")
    source.add_argument("--body", metavar="FILE", help="a Create…Connector JSON body; - for standard input")
    source.add_argument("--saved", metavar="NAME", help="a saved connection, by name")
    parser.add_argument("--user", metavar="NAME", help="whose saved connection (default: WIZARD_ADMIN_USERNAME)")
    parser.add_argument("--json", action="store_true", help="print exactly the ApplicationMessage JSON")
    parser.add_argument("--password-stdin", action="store_true",
                        help="read the password the URI or body leaves out from one line of standard input")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """The ``test`` command: never a traceback, always an exit status (130 for Ctrl-C, wherever it comes)."""
    try:
        return _test(args)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted: the test was cancelled and cleaned up\n")
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a command line prints a reason, never a traceback
        sys.stderr.write(f"error: the test could not run ({type(exc).__name__})\n")
        return FAILED


def _test(args: argparse.Namespace) -> int:
    from backend.cli import load_settings

    settings = load_settings()
    if settings is None:
        return INVALID
    _quiet_logs()
    out = Output(sys.stdout, as_json=args.json)
    try:
        model, keep = load(args, settings)
    except BadInput as exc:
        out.verdict(_invalid(exc))
        return INVALID
    except StoreUnavailable as exc:
        sys.stderr.write(f"error: {exc}\n")
        return FAILED
    from backend.core.errors import DomainError

    try:
        message = asyncio.run(diagnose(model, settings, out))
    except DomainError as refused:  # the tester's refusals (Busy, RateLimited): no verdict, exit 1
        sys.stderr.write(f"error: {refused.title}. {refused.body}\n")
        return FAILED
    if keep is not None:
        _keep_verdict(keep, message)
    return exit_status(message.code)


def _keep_verdict(keep: KeepVerdict, message: ApplicationMessage) -> None:
    """Record the verdict as ``last_test``; a store that fails now only costs a warning: the test itself ran."""
    try:
        keep(message)
    except Exception as exc:  # noqa: BLE001 - the store's driver, its URL: said without the URL
        sys.stderr.write(f"warning: the verdict could not be kept as the saved connection's last test "
                         f"({type(exc).__name__})\n")


def exit_status(code: str) -> int:
    """0 connected (whatever the kind), 2 invalid parameters, 1 any other verdict (docs/design.md)."""
    return {"CONNECTION_SUCCESSFUL": SUCCESS, "INVALID_PARAMETERS": INVALID}.get(code, FAILED)


# --- reading the connection ---------------------------------------------------------------------


def load(args: argparse.Namespace, settings: Settings) -> tuple[Any, KeepVerdict | None]:
    """The validated connector model of ``--uri``, ``--body`` or ``--saved`` (BadInput naming what to fix),
    and for ``--saved`` what keeps its verdict."""
    if args.saved is not None:
        if args.password_stdin:
            raise BadInput("--password-stdin applies to --uri and --body: a saved connection keeps its password.")
        # The API's owners: the admin by default, or the one anonymous owner when authentication is off.
        return _saved(args.saved, args.user or (settings.admin_username if settings.auth_enabled else None), settings)
    if args.user is not None:
        raise BadInput("--user applies to --saved only.")
    if args.uri is not None:
        body = _from_uri(args.uri)
    else:
        body = _from_file(args.body, stdin_taken=args.password_stdin)
    _fill_password(body, settings, args.password_stdin)
    return _validated(body), None


def _from_uri(text: str) -> dict[str, Any]:
    from backend.spec.uri import URIError, parse_uri

    try:
        parsed = parse_uri(text)
    except URIError as exc:
        raise BadInput(exc.message, {"uri": [exc.message]}) from None
    if parsed.password_in_uri:
        sys.stderr.write(PASSWORD_WARNING + "\n")
    for note in parsed.notes:
        sys.stderr.write(f"note: {note}\n")
    return parsed.connection


def _from_file(name: str, stdin_taken: bool) -> dict[str, Any]:
    if name == "-":
        if stdin_taken:
            raise BadInput("--password-stdin and --body - both want standard input: put the body in a file.")
        text = sys.stdin.read()
        where = "standard input"
    else:
        try:
            with open(name, encoding="utf-8") as file:
                text = file.read()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
            raise BadInput(f"The body file cannot be read: {reason}.", {"body": [f"Cannot read {name}."]}) from None
        where = name
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        why = f"The body in {where} is not JSON (line {exc.lineno}, column {exc.colno})."
        raise BadInput(why, {"body": [why]}) from None
    if not isinstance(body, dict):
        raise BadInput("The body must be a JSON object with the connector's fields.",
                       {"body": ["Expected an object with the connector's fields."]})
    return body


def _secret_field(body: dict[str, Any]) -> str | None:
    """The field a URI's password part fills for this connector (``password``, ``token``, …)."""
    from backend.connectors import registry
    from backend.spec.forms import uri_facts

    connector = registry().get(str(body.get("connector_type")))
    facts = uri_facts(connector) if connector is not None else None
    name = facts.parts.get("password") if facts is not None else None
    return name or None


def _fill_password(body: dict[str, Any], settings: Settings, from_stdin: bool) -> None:
    """The password the body leaves out: ``WIZARD_TEST_PASSWORD``, else one line of standard input."""
    name = _secret_field(body)
    if name is None or body.get(name):
        return
    if settings.test_password is not None:
        body[name] = settings.test_password.get_secret_value()
    elif from_stdin:
        line = sys.stdin.readline()
        body[name] = line.rstrip("\r\n")
        if not body[name]:
            raise BadInput("--password-stdin read an empty line.", {name: ["The password read from standard input "
                                                                            "is empty."]})


def _validated(body: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from backend.api.errors import validation_details
    from backend.connectors import registry
    from backend.spec.models import parse_connector

    try:
        return parse_connector(body)
    except ValidationError as exc:
        details = validation_details([dict(e) for e in exc.errors(include_input=False)], registry())
        secret = _secret_field(body)
        if secret is not None and "This field is required." in details.get(secret, []):
            details[secret].append("Give it with WIZARD_TEST_PASSWORD or --password-stdin.")
        raise BadInput("Some settings are not valid.", details) from None


def _saved(name: str, user: str | None, settings: Settings) -> tuple[Any, KeepVerdict]:
    """The saved connection's model, and a recorder of its verdict: the service's own ``record``,
    which the API's ``POST …/{id}/test/`` calls too."""
    try:
        from backend.api.errors import APIError
        from backend.core.saved_errors import SavedError
        from backend.saved.service import SavedConnections, owner_of
        from backend.security.auth import AuthService
    except ImportError:
        raise BadInput("saved connections are not available in this installation.") from None
    owner = owner_of(user)
    try:
        saved = SavedConnections(settings, AuthService(settings))
        loaded = saved.load_by_name(owner, name, trigger="cli")
    except (APIError, SavedError) as exc:  # the key changed; a body this version no longer accepts
        raise BadInput(exc.body, exc.details) from None
    except Exception as exc:  # noqa: BLE001 - the store's driver, its URL, its file: said without the URL
        raise StoreUnavailable(f"the store of saved connections (WIZARD_DATABASE_URL) cannot be read "
                               f"({type(exc).__name__})") from None
    if loaded is None:
        raise BadInput(f"{owner} has no saved connection named '{name}'.", {"saved": ["No saved connection "
                                                                                     "of this name."]})
    changes: list[Any] = []
    saved.observers.append(changes.append)

    def keep(message: ApplicationMessage) -> None:
        from backend.monitor.alerts import deliver_now

        saved.record(loaded, message, trigger="cli")  # kept in the history (backend/monitor)
        deliver_now(settings, changes)  # a change of state is alerted as the server would

    return loaded.model, keep


def _invalid(exc: BadInput) -> ApplicationMessage:
    from backend.api.errors import invalid_parameters_message

    message = invalid_parameters_message(exc.details or {})
    return message if exc.details else message.model_copy(update={"body": exc.message})


# --- the test -----------------------------------------------------------------------------------


async def diagnose(model: Any, settings: Settings, out: Output) -> ApplicationMessage:
    """Run the API's test in-process, printing each stage as it settles; the verdict."""
    from backend.diagnosis.service import ConnectionTester
    from backend.security.secrets import Masker
    from backend.spec.fields import secret_values

    out.masker = Masker(list(secret_values(model)))
    out.start(model, settings)
    live = await ConnectionTester(settings).stream(model)
    verdict: dict[str, Any] | None = None
    try:
        async for event in live.events():
            if event["event"] == "start":
                out.stage_started(event["stage"]["name"])
            elif event["event"] == "stage":
                out.stage(event["stage"])
            elif event["event"] == "verdict":
                verdict = event["message"]
    finally:
        await live.aclose()  # cancelled (Ctrl-C): the test's clean-up runs before the loop ends
    message = ApplicationMessage.model_validate(verdict)
    out.verdict(message)
    return message


class Output:
    """Prints a test for people (stages, then the verdict) or for machines (``--json``), always masked."""

    def __init__(self, stream: TextIO, as_json: bool) -> None:
        self.stream = stream
        self.as_json = as_json
        self.masker: Masker | None = None
        """The request's secrets: applied to each value before it is formatted or serialised,
        never to the finished text (a ``"password": [`` in JSON is not a password)."""
        self.console: Any = None
        self.status: Any = None
        if not as_json and stream.isatty():
            from rich.console import Console

            self.console = Console(file=stream, highlight=False)

    def mask(self, value: Any) -> Any:
        """``value`` (a string, or any JSON-like value) with every secret in its strings masked."""
        return value if self.masker is None else self.masker.obj(value)

    def line(self, text: str, style: str | None = None) -> None:
        """Print ``text``, made of values masked one by one."""
        if self.console is not None:
            self.console.print(text, style=style, markup=False)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def start(self, model: Any, settings: Settings) -> None:
        from backend.connectors import registry
        from backend.spec.forms import target_fields

        if self.as_json:
            return
        connector = registry()[model.connector_type]
        names = target_fields(connector)
        values = [self.mask(str(getattr(model, name))) for name in names if getattr(model, name, None)]
        where = (":" if "port" in names else ", ").join(values)  # host:port, or bucket, region
        self.line(f"Testing {connector.label}{' at ' + where if where else ''} "
                  f"(deadline {settings.test_timeout_s:g} s)", style="bold")

    def stage_started(self, name: str) -> None:
        if self.console is not None:
            self._stop_status()
            self.status = self.console.status(f"{name}…")
            self.status.start()

    def stage(self, stage: dict[str, Any]) -> None:
        if self.as_json:
            return
        self._stop_status()
        status = str(stage.get("status"))
        took = f"{stage['duration_ms']} ms" if stage.get("duration_ms") is not None else ""
        detail = f"  {self.mask(stage['detail'])}" if stage.get("detail") else ""
        text = f"  {_SYMBOLS.get(status, '?')} {stage.get('name', ''):<15} {status:<8} {took:>8}{detail}"
        self.line(text.rstrip(), style=_STYLES.get(status))

    def verdict(self, message: ApplicationMessage) -> None:
        self._stop_status()
        if self.as_json:
            self.stream.write(json.dumps(self.mask(message.model_dump(mode="json")), ensure_ascii=False) + "\n")
            self.stream.flush()
            return
        kind = message.kind.value if message.kind is not None else "info"
        self.line(f"{message.code}: {self.mask(message.title)}", style=_STYLES.get("passed" if kind == "success" else
                                                                        "warning" if kind == "warning" else "failed"))
        self.line(self.mask(message.body))
        if message.details:
            self.line("Fields to fix:")
            for field, texts in message.details.items():
                for text in texts:
                    self.line(f"  {self.mask(field)}: {self.mask(text)}")

    def _stop_status(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def _quiet_logs() -> None:
    """The wizard's warnings on standard error, scrubbed of secrets; no audit lines on a terminal."""
    from backend.security.secrets import SecretFilter, install_log_scrubbing

    install_log_scrubbing()
    logger = logging.getLogger("wizard")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(SecretFilter())
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.propagate = False

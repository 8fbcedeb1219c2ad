"""One live-capabilities request: the connection test, then the examination on its open connection.

The test runs exactly as ``POST …/test/`` runs it (``ConnectionTester.test``: in-flight and
rate limits, deadline, target policy, clean-up, masking); the examination
is handed the connector's open handle through ``RunContext.on_connected`` and runs inside the
same deadline, before the connection is closed. Each connector's examination lives in a module
of its own, which the connector names or which is found by convention
(:meth:`backend.connectors.base.Connector.examiner_module`: ``backend.capabilities.<module>`` for
``backend.connectors.<module>``), loaded on first use. No table here names a connector.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from backend.capabilities import rules
from backend.capabilities.facts import Findings
from backend.capabilities.schemas import CapabilityItem, CapabilityOptions, ConnectionCapabilities
from backend.connectors import registry
from backend.connectors.base import Connector, ConnectorModel
from backend.core import RunContext
from backend.diagnosis.messages import Code
from backend.diagnosis.service import ConnectionTester, sanitised
from backend.diagnosis.stages import Failure
from backend.security.secrets import Masker
from backend.spec.fields import secret_values
from backend.spec.schemas import ApplicationMessage, Display, SystemMessageKind

log = logging.getLogger("wizard.capabilities")

Examine = Callable[[Any, Any, CapabilityOptions, RunContext], Awaitable[Findings]]
"""``examine(handle, params, options, ctx)`` of a connector module: its privilege catalog, its probe."""

CONNECTED = {Code.CONNECTION_SUCCESSFUL.value, Code.PATH_NOT_FOUND.value}
"""Verdicts after which the connection was open and examined (an empty object-store path is no failure)."""


@dataclass
class _Examination:
    """What the hook saw: filled in while the test's connection is open."""

    ctx: RunContext | None = None
    findings: Findings | None = None
    error: str | None = None


class NoExaminer(LookupError):
    """The connector names no capabilities examination (a plugin may have none)."""


def examiner(connector: Connector) -> Examine:
    """The connector's ``examine`` function, from the module it names or the convention's.

    Raises :class:`NoExaminer` when it names none, ``ImportError``/``AttributeError`` when the module
    it names cannot be loaded or has no ``examine`` (``tests/test_completeness.py`` fails on both).
    """
    name = connector.examiner_module()
    if name is None:
        raise NoExaminer(f"the {connector.label} connector has no capabilities examination")
    found: Examine = importlib.import_module(name).examine
    return found


async def examine(
    tester: ConnectionTester, connection: ConnectorModel, options: CapabilityOptions, user: str | None
) -> ConnectionCapabilities:
    """Test ``connection`` and tell what it can do. Raises what ``tester.test`` raises (Busy, RateLimited)."""
    started = time.monotonic()
    connector = registry()[connection.connector_type]
    run = _Examination()

    async def on_connected(handle: Any, ctx: RunContext) -> None:
        run.ctx = ctx
        try:
            run.findings = await examiner(connector)(handle, connection, options, ctx)
        except NoExaminer as missing:
            run.error = str(missing)
        except Failure as failure:  # the deadline, mostly: the test itself has passed
            run.error = failure.detail or failure.code.value
        except Exception as exc:  # noqa: BLE001 - an examination never turns a passed test into a failure
            log.warning("capabilities of %s: unexpected %s", connector.type_name, type(exc).__name__)
            run.error = f"the examination hit an unexpected {type(exc).__name__}"

    verdict = await tester.test(connection, user, on_connected=on_connected)
    mask = Masker(list(run.ctx.secrets) if run.ctx else list(secret_values(connection)))
    answer = _answer(connector, verdict, run)
    if verdict.code == Code.PERMISSION_DENIED.value:
        answer = _with_grants_to_ask_for(answer, connection, options)
    answer.elapsed_ms = int((time.monotonic() - started) * 1000)
    return _masked(answer, mask)


def _answer(connector: Connector, verdict: ApplicationMessage, run: _Examination) -> ConnectionCapabilities:
    findings = run.findings
    if verdict.code not in CONNECTED:
        reason = "Nothing could be examined because the connection test failed: its verdict says why."
        return _all_unknown(verdict, "nothing: the connection test failed", reason)
    if findings is None:
        why = run.error or f"the {connector.label} connector did not hand over its open connection"
        reason = f"The connection works, but its privileges could not be read: {why}."
        return _all_unknown(verdict, "nothing: the privileges could not be read", reason)
    if findings.schema_missing is not None:
        return _all_unknown(_schema_not_found(verdict, findings), findings.scope,
                            f"Schema '{findings.schema_missing}' does not exist, so nothing in it could be examined.")
    capabilities = rules.capability_items(connector, findings)
    return ConnectionCapabilities(
        verdict=_with_probe_report(verdict, findings),
        scope=findings.scope,
        capabilities=capabilities,
        functionalities=rules.functionality_items(connector, findings, capabilities),
        access=rules.access_items(findings),
        elapsed_ms=0,
        schemas=findings.schemas,
    )


def _with_grants_to_ask_for(
    answer: ConnectionCapabilities, connection: ConnectorModel, options: CapabilityOptions
) -> ConnectionCapabilities:
    """A test refused with PERMISSION_DENIED: the ``access`` items carry the grants that would let it pass
    (the connector's examination module says them, ``denied_fixes(params, schema)``), and the scope whose."""
    name = registry()[connection.connector_type].examiner_module()
    grants = getattr(importlib.import_module(name), "denied_fixes", None) if name else None
    if grants is None:
        return answer
    schema = options.schema_name or getattr(connection, "schema_name", None)
    fix = grants(connection, schema)
    reason = "This user may not use the database or schema yet: ask an administrator for the grants below."
    user, database = getattr(connection, "username", None), getattr(connection, "database", None)
    scope = f"{user} on database {database}" + (f", schema {schema}" if schema else "") if user and database else answer.scope
    return answer.model_copy(update={"access": rules.unknown_items(rules.ACCESS_NAMES, reason, fix), "scope": scope})


def _all_unknown(verdict: ApplicationMessage, scope: str, reason: str) -> ConnectionCapabilities:
    return ConnectionCapabilities(
        verdict=verdict,
        scope=scope,
        capabilities=rules.unknown_items(rules.CAPABILITY_NAMES, reason),
        functionalities=rules.unknown_items(rules.FUNCTIONALITY_NAMES, reason),
        access=rules.unknown_items(rules.ACCESS_NAMES, reason),
        elapsed_ms=0,
    )


def _schema_not_found(verdict: ApplicationMessage, findings: Findings) -> ApplicationMessage:
    name = findings.schema_missing
    text = f"There is no schema '{name}' here ({findings.scope})."
    return verdict.model_copy(update={
        "code": Code.SCHEMA_NOT_FOUND.value,
        "kind": SystemMessageKind.error,
        "title": "Schema not found",
        "body": f"{text} Check the spelling (names are case-sensitive when quoted), or leave schema empty "
                "for the connection's own.",
        "details": {"schema": ["No schema of this name in the database."]},
        "display": Display.field,
    })


def _with_probe_report(verdict: ApplicationMessage, findings: Findings) -> ApplicationMessage:
    """The verdict with what the write probe did; a warning naming anything it left behind."""
    body = " ".join([verdict.body, *findings.notes]).strip()
    if not findings.leftovers:
        return verdict.model_copy(update={"body": body}) if findings.notes else verdict
    names = ", ".join(findings.leftovers)
    return verdict.model_copy(update={
        "kind": SystemMessageKind.warning,
        "title": "Connected; the write probe left something behind",
        "body": f"{body} The write probe could not remove what it created: {names}. Remove it by hand "
                "(it holds no data of yours).",
    })


def _masked(answer: ConnectionCapabilities, mask: Masker) -> ConnectionCapabilities:
    """No secret of the request anywhere in the answer (a table may be named like a password)."""

    def items(found: list[CapabilityItem]) -> list[CapabilityItem]:
        return [i.model_copy(update={"reason": mask(i.reason), "fix": mask(i.fix) if i.fix else None}) for i in found]

    return answer.model_copy(update={
        "verdict": sanitised(answer.verdict, mask),
        "scope": mask(answer.scope),
        "capabilities": items(answer.capabilities),
        "functionalities": items(answer.functionalities),
        "access": items(answer.access),
    })


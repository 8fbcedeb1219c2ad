"""What every connector is: a request model, its metadata, its functionalities and its test."""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from backend.core import RunContext
from backend.diagnosis import netprobe
from backend.diagnosis.messages import CATALOG, Code
from backend.diagnosis.stages import Failure
from backend.hooks import tls
from backend.spec.fields import PropertyDict, iter_fields, property_of
from backend.spec.formfacts import Alternative, FieldFacts, URIFacts
from backend.spec.schemas import (
    ApplicationMessage,
    CreateConnectionHooksSchema,
    Display,
    FunctionalitySchema,
    SystemMessageKind,
)

log = logging.getLogger("wizard.test")

DATABASE_STAGES = ("parameters", "dns", "tcp", "ssh", "tls", "authentication", "database", "query")


class ConnectorModel(BaseModel):
    """The two fields every ``Create…Connector`` of the spec starts with.

    Strict: a body that breaks the schema (``"port": "5432"``, ``"is_source": 0``) is refused
    with 422 rather than coerced, as the spec's types say.
    """

    model_config = ConfigDict(strict=True)

    hooks_params: CreateConnectionHooksSchema | None = None
    is_source: bool | None = Field(default=None, title="Is Source")

    if TYPE_CHECKING:  # each model declares it as Literal["<its tag>"]; declared here for the type checker only,
        connector_type: str  # so that the field order of every model stays the spec's


ModelT = TypeVar("ModelT", bound=ConnectorModel)
"""A connector's request model: ``class PostgreSQL(SQLConnector[CreatePostgreSQLConnector])``."""


class Connector(ABC, Generic[ModelT]):
    """One kind of connection, over its request model. Subclass it in a module of its own under ``backend/connectors/``."""

    type_name: ClassVar[str]
    """The ``connector_type`` discriminator, e.g. ``PostgreSQLConnector``."""
    label: ClassVar[str]
    """The plain name people know, e.g. ``PostgreSQL``."""
    position: ClassVar[int]
    """Place in the spec's ``CreateConnectorSchema.oneOf``."""
    model: type[ModelT]
    """The ``Create…Connector`` model (a class attribute: a ClassVar cannot name the type variable)."""
    source: ClassVar[bool] = True
    """Usable as a source (read from). Every connector is usable as a destination."""
    hooks: ClassVar[frozenset[str]] = frozenset()
    """Hooks that make sense for this connector (``SSHTunnel``, ``SSL``, ``Kerberos``)."""
    ssl_modes: ClassVar[tuple[str, ...]] = ()
    """The ``hooks_params.SSL.ssl_mode`` values this connector's drivers really support, in their own words."""
    ssl_aliases: ClassVar[dict[str, str]] = {}
    """libpq ``sslmode`` words (and other spellings) → the native word with the same meaning."""
    ssl_refusals: ClassVar[dict[str, str]] = {}
    """libpq words this connector cannot honour → why not, in plain words."""
    stage_names: ClassVar[tuple[str, ...]] = DATABASE_STAGES
    functionalities: ClassVar[tuple[FunctionalitySchema, ...]] = ()
    hook_notes: ClassVar[dict[str, str]] = {}
    """Why a hook does not apply, in plain words (shown when one is sent anyway)."""

    # --- form facts: read by ``GET …/forms/`` and backend.spec.uri; backend.spec.forms derives what is not said ---
    category: ClassVar[str] = "database"
    """``database`` or ``storage``: where the connector is listed."""
    form_fields: ClassVar[dict[str, FieldFacts]] = {}
    """Per-field label, help, placeholder, advanced, row, upload, over ``formfacts.COMMON_FIELDS``."""
    form_order: ClassVar[tuple[str, ...]] = ()
    """Fields shown first, in this order; the others follow in the model's (advanced ones last)."""
    alternatives: ClassVar[tuple[Alternative, ...]] = ()
    """Fields given one way or another (a password or a key); only the picked option's fields show."""
    target_fields: ClassVar[tuple[str, ...]] = ()
    """Where the connection goes (audit line, UI); empty: ``host`` and ``port`` where the model has them."""
    uri: ClassVar[URIFacts | None] = None
    """How its connection URIs read; None: ``<protocol default's scheme>://user@host:port/database``."""

    # --- the rest of the plugin: found by the registry's users, checked by tests/test_completeness.py ---
    example: ClassVar[Mapping[str, Any]] = {}
    """A valid body of ``model`` (``connector_type`` included) aimed at an example host: the API's
    example, and what the suite's contract tests aim at their own closed, silent and dropping ports."""
    examiner: ClassVar[str | None] = None
    """Dotted name of the module whose ``examine(handle, params, options, ctx)`` reads this connector's
    privileges (live capabilities). None: found by convention, ``backend.capabilities.<module>`` for a
    connector module ``backend.connectors.<module>``; a plugin without one answers every capability
    ``unknown``, saying why. ``""``: none, on purpose."""

    def examiner_module(self) -> str | None:
        """The module of this connector's capabilities examination (see :attr:`examiner`), or None."""
        if self.examiner is not None:
            return self.examiner or None
        package, _, name = type(self).__module__.rpartition(".")
        return f"backend.capabilities.{name}" if package == __package__ else None

    @property
    def default_port(self) -> int | None:
        """The ``port`` field's default in the model (the spec's), None where the model has no port."""
        info = self.model.model_fields.get("port")
        default = info.default if info is not None else None
        return default if isinstance(default, int) else None

    # --- metadata ---------------------------------------------------------------------------

    def properties(self) -> dict[str, PropertyDict]:
        """The connector's Property metadata, generated from its model."""
        props = {name: property_of(info) for name, info in iter_fields(self.model, skip=("connector_type",))}
        props["hooks_params"]["values"] = [h for h in ("SSHTunnel", "SSL", "Kerberos") if h in self.hooks]
        if "SSL" in self.hooks and self.ssl_modes:
            props["hooks_params.SSL.ssl_mode"] = {
                "type": ["string", "null"],
                "default": None,
                "values": list(self.ssl_words().accepted),
            }
        return props

    def ssl_words(self) -> tls.ModeWords:
        """Every ``ssl_mode`` word this connector accepts, and why it refuses the libpq words it cannot honour."""
        return tls.ModeWords(self.ssl_modes, self.ssl_aliases, self.ssl_refusals)

    # --- the test ---------------------------------------------------------------------------

    async def run(self, params: ModelT, ctx: RunContext) -> ApplicationMessage:
        """Diagnose ``params`` stage by stage; always return one verdict, never raise."""
        d = ctx.diagnosis
        try:
            with ctx.stack:
                verdict = await self.diagnose(params, ctx)
        except Failure as failure:
            verdict = d.failure_message(failure)
        except Exception as exc:  # noqa: BLE001 - every input gets a verdict, never a 500
            log.warning("unexpected %s in %s test at stage %s", type(exc).__name__, self.type_name, d.current)
            stage = d.current or "parameters"
            d.mark(stage, "failed", f"{type(exc).__name__}: {exc}")
            verdict = d.message(
                Code.UNEXPECTED_ERROR,
                kind=SystemMessageKind.error,
                detail=f"{type(exc).__name__}: {exc}",
            )
        return await self._second_look(verdict, ctx)

    async def _second_look(self, verdict: ApplicationMessage, ctx: RunContext) -> ApplicationMessage:
        """``CONNECTION_RESET`` for a port that hangs up at once: the drivers report it as a failed
        handshake or in words of their own; one more connection to the address the tcp stage reached
        shows it from the socket itself (end of stream or a reset before any byte)."""
        target = ctx.prepared.get(netprobe.TCP_TARGET)
        if not isinstance(target, netprobe.TcpTarget) or verdict.code not in netprobe.RESET_SUSPECTS:
            return verdict
        if not await netprobe.hangs_up_at_once(target, ctx.deadline):
            return verdict
        failure = netprobe.reset_failure(target, f"{target.address}:{target.port} closed the connection at once.")
        advice = CATALOG[Code.CONNECTION_RESET]
        return verdict.model_copy(update={
            "code": Code.CONNECTION_RESET.value,
            "title": advice.title,
            "body": advice.body,
            "details": failure.fields or None,
            "display": Display.field if failure.fields else Display.notification,
        })

    @abstractmethod
    async def diagnose(self, params: ModelT, ctx: RunContext) -> ApplicationMessage:
        """Run every stage; raise :class:`Failure` to stop with a verdict."""

    # --- shared checks ----------------------------------------------------------------------

    def check_hooks(self, params: ConnectorModel) -> None:
        """Refuse hooks that make no sense for this connector, naming the field."""
        hooks = params.hooks_params
        if hooks is None:
            return
        bad: dict[str, str] = {}
        for name in ("SSHTunnel", "SSL", "Kerberos"):
            if getattr(hooks, name) is not None and name not in self.hooks:
                bad[f"hooks_params.{name}"] = self.hook_notes.get(
                    name, f"{self.label} connections cannot use the {name} hook."
                )
        if bad:
            raise Failure(Code.INVALID_PARAMETERS, " ".join(bad.values()), fields=bad, stage="parameters")


T = TypeVar("T")


def classified(fn: Callable[[], Awaitable[T]], classify: Callable[[Exception], Failure]) -> Callable[[], Awaitable[T]]:
    """``fn`` with every error but a :class:`Failure` turned into a verdict by ``classify`` (a driver's errors)."""

    async def wrapped() -> T:
        try:
            return await fn()
        except Failure:
            raise
        except Exception as exc:  # noqa: BLE001 - every driver error is classified
            raise classify(exc) from None

    return wrapped


_CITATION = re.compile(r" ?\[[a-z][a-z0-9 ,_-]*\]")


def functionality(
    name: str, kind: str, applicability: str, description: str, capabilities: dict[str, list[str]]
) -> FunctionalitySchema:
    """A functionality in a connector module: ``capabilities`` maps each capability to what it depends on.

    A description may tie a sentence to the documentation cited in the module's comments with a
    marker such as ``[truncate]``; the markers are for maintainers and are not shown to users.
    """
    return FunctionalitySchema.model_validate(
        {
            "name": name,
            "kind": kind,
            "applicability": applicability,
            "description": _CITATION.sub("", description),
            "capabilities": [{"name": cap, "depends_on": deps} for cap, deps in capabilities.items()],
        }
    )

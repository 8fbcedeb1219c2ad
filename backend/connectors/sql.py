"""The shared diagnosis of SQL databases: dns → tcp → ssh → tls/authentication/database → query."""

from __future__ import annotations

import importlib.util
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from backend.connectors.base import Connector, ConnectorModel, classified
from backend.core import ReachedAddress, RunContext
from backend.diagnosis.messages import Code, unverified_tls_advice
from backend.diagnosis.netprobe import reach_directly
from backend.diagnosis.stages import Failure, in_driver_thread, run_blocking
from backend.hooks import tls as tls_hook
from backend.ops.context import after_answer
from backend.spec.fields import PropertyDict
from backend.spec.schemas import ApplicationMessage, SystemMessageKind

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy
    from sqlalchemy.engine.default import DefaultDialect


@dataclass(frozen=True)
class Driver:
    """A DB-API driver behind an SQLAlchemy protocol."""

    module: str
    """What to import, e.g. ``psycopg2``."""
    package: str
    """What to ``pip install``, e.g. ``psycopg2-binary``."""

    def installed(self) -> bool:
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False


class DatabaseModel(ConnectorModel):
    """What the shared SQL diagnosis reads of every database model: where the server is, by which protocol."""

    if TYPE_CHECKING:  # each model declares them in the spec's field order; declared here for the type checker only
        host: str
        port: int | None
        protocol: str | None
        database: str


class LoginModel(DatabaseModel):
    """A database model with a user name and password login (every one but Databricks, which takes a token)."""

    if TYPE_CHECKING:  # as above
        username: str
        password: str


DatabaseT = TypeVar("DatabaseT", bound=DatabaseModel)
T = TypeVar("T")


class SQLConnector(Connector[DatabaseT]):
    """A database reached over TCP by a DB-API driver, over its model: ``SQLConnector[CreatePostgreSQLConnector]``."""

    protocols: ClassVar[dict[str, Driver]]
    """Every protocol this connector knows, the spec's default first."""
    product: ClassVar[str]

    @property
    def default_port(self) -> int:
        """The model's ``port`` default: every database model has one (the completeness test checks it)."""
        port = super().default_port
        if port is None:
            raise TypeError(f"{type(self).__name__}.model has no port field with a default")
        return port

    # --- metadata ---------------------------------------------------------------------------

    def protocol_values(self) -> list[str]:
        """Protocols whose driver is installed, plus the spec's default."""
        default = self.model.model_fields["protocol"].default
        return [p for p, drv in self.protocols.items() if p == default or drv.installed()]

    def properties(self) -> dict[str, PropertyDict]:
        props = super().properties()
        props["protocol"]["values"] = self.protocol_values()
        return props

    # --- the stages -------------------------------------------------------------------------

    async def diagnose(self, params: DatabaseT, ctx: RunContext) -> ApplicationMessage:
        d = ctx.diagnosis

        async def parameters() -> None:
            self.check_parameters(params, ctx)

        await d.step("parameters", parameters)
        endpoint = await self.reach(params, ctx)

        async def login() -> Any:
            return await self.open_connection(params, endpoint, ctx)

        if self.tls_switched_off(ctx):
            # Settled before the login: a deadline during it then blames the log-in, not an encryption never tried.
            d.mark("tls", "warning", "No encryption was asked for (TLS mode disable): the link is not encrypted.")
        conn = await d.step("tls", _translated(login, self, params, endpoint), covers=("authentication", "database"))
        # Through a tunnel, closed before the tunnel is (the stack unwinds in reverse); else once the verdict is sent.
        ctx.stack.callback(close_quietly if endpoint.via_ssh else close_after_answer, conn)
        tls = tls_hook.report(ctx, self.tls_state(conn))

        async def query() -> dict[str, Any]:
            return await self.run_query(conn, params, ctx)

        server = await d.step("query", _translated(query, self, params, endpoint))
        d.payload["server"] = server
        if ctx.on_connected is not None:  # live capabilities: the catalog queries on this same connection
            await ctx.on_connected(conn, ctx)
        body = self.success_body(server, tls, endpoint, ctx)
        if tls.get("enabled") and tls.get("verified") is False:
            return self.unverified_message(body, ctx)
        return d.message(Code.CONNECTION_SUCCESSFUL, kind=SystemMessageKind.success, title=f"Connected to {self.label}", body=body)

    def unverified_message(self, success_body: str, ctx: RunContext) -> ApplicationMessage:
        """A connection that works, encrypted, without the server's certificate checked: a warning, not a
        success (anyone in between could pose as the server), that leads with that and how to check it,
        naming ``ssl_mode`` as PATH_NOT_FOUND's warning names the field to act on."""
        mode = self.verify_mode()
        advice = unverified_tls_advice(self.label, mode)
        fields = {tls_hook.MODE_FIELD: [f"Use {mode}, with the CA certificate, to check the server's certificate."]}
        return ctx.diagnosis.message(
            Code.CONNECTION_SUCCESSFUL,
            kind=SystemMessageKind.warning,
            title=advice.title,
            body=f"{advice.body} {success_body}",
            fields=fields if mode is not None else None,
        )

    def tls_switched_off(self, ctx: RunContext) -> bool:
        """Whether ``ssl_mode`` says the driver must not try TLS at all (every connector's word for it is
        a spelling of *disable*): the login then starts without a TLS exchange to wait on."""
        found = tls_hook.material(ctx)
        return found is not None and (found.mode or "").lower() in ("disable", "disabled")

    def verify_mode(self) -> str | None:
        """The ``ssl_mode`` word that checks the server's certificate most strictly, of those this connector takes."""
        accepted = self.ssl_words().accepted if "SSL" in self.hooks else ()
        return next((word for word in ("verify-full", "verify-ca") if word in accepted), None)

    def check_parameters(self, params: DatabaseT, ctx: RunContext) -> None:
        self.check_hooks(params)
        protocol = params.protocol or self.model.model_fields["protocol"].default
        driver = self.protocols.get(protocol)
        if driver is None:
            known = ", ".join(self.protocols)
            raise Failure(
                Code.INVALID_PARAMETERS,
                f"'{protocol}' is not a {self.label} protocol.",
                fields={"protocol": f"Use one of: {known}."},
            )
        if not driver.installed():
            missing = f"The protocol '{protocol}' needs the Python package '{driver.package}', which is not installed."
            raise Failure(
                Code.DRIVER_NOT_AVAILABLE,
                missing,
                fields={"protocol": f"Install '{driver.package}' or choose one of: {', '.join(self.protocol_values())}."},
                body=f"{missing} Pick another protocol, or ask your administrator to install it.",
            )

    async def reach(self, params: DatabaseT, ctx: RunContext) -> ReachedAddress:
        """The dns, tcp and ssh stages: where the driver should connect, directly or through a tunnel."""
        port = params.port or self.default_port
        tunnel = params.hooks_params.SSHTunnel if params.hooks_params else None
        if tunnel is None:
            return await reach_directly(params.host, port, ctx)
        # paramiko and sshtunnel take ~0.2 s to import: only when a tunnel is asked for (bench/RESULTS.md).
        from backend.hooks import ssh as ssh_hook

        return await ssh_hook.reach_through_tunnel(tunnel, params.host, port, ctx)

    # --- what each database fills in --------------------------------------------------------

    async def open_connection(self, params: DatabaseT, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        """The login: :meth:`connect` in its own thread, bounded by the deadline (a late connection is closed).

        Override it for a driver whose blocking connect cannot be bounded, e.g. with its asyncio API.
        """
        return await run_blocking(
            lambda: self.connect(params, endpoint, ctx),
            ctx.deadline,
            f"{endpoint.host}:{endpoint.port}",
            stage="authentication",
            cleanup=close_quietly,
        )

    async def run_query(self, conn: Any, params: DatabaseT, ctx: RunContext) -> dict[str, Any]:
        """The test query: :meth:`inspect` in its own thread, bounded by the deadline."""
        return await run_blocking(lambda: self.inspect(conn, params), ctx.deadline, "the test query", stage="query")

    def url(self, params: DatabaseT, endpoint: ReachedAddress) -> URL:
        """The SQLAlchemy URL (never string formatting: any character in a password works)."""
        from sqlalchemy.engine import URL

        login = params if isinstance(params, LoginModel) else None
        return URL.create(
            params.protocol or self.model.model_fields["protocol"].default,
            username=login.username if login else None,
            password=login.password if login else None,
            host=endpoint.address,
            port=endpoint.port,
            database=params.database,
        )

    def driver_call(self, params: DatabaseT, endpoint: ReachedAddress, ctx: RunContext) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        """The dialect, positional and keyword arguments the driver is called with (tested as they are):
        SQLAlchemy's own for :meth:`url`, then :meth:`connect_args`."""
        url = self.url(params, endpoint)
        # Every SQLAlchemy dialect is a DefaultDialect (whose constructor takes the DB-API module); get_dialect()
        # is typed as returning the bare Dialect interface, which has no constructor.
        dialect_cls = cast("type[DefaultDialect]", url.get_dialect())
        dialect = dialect_cls(dbapi=dialect_cls.import_dbapi())
        cargs, cparams = dialect.create_connect_args(url)
        cparams.update(self.connect_args(params, endpoint, ctx))
        return dialect, tuple(cargs), dict(cparams)

    def connect(self, params: DatabaseT, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        """Open a DB-API connection the way SQLAlchemy would, without an engine's extra round trips."""
        dialect, cargs, cparams = self.driver_call(params, endpoint, ctx)
        return dialect.connect(*cargs, **cparams)

    @abstractmethod
    def connect_args(self, params: DatabaseT, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
        """Driver arguments: deadlines first, then TLS."""

    @abstractmethod
    def inspect(self, conn: Any, params: DatabaseT) -> dict[str, Any]:
        """Run the test query; return what was verified (product, version, user, database, schema)."""

    def tls_state(self, conn: Any) -> dict[str, Any]:
        """The TLS state actually negotiated: enabled, version, cipher, verified."""
        return {"enabled": None}

    @abstractmethod
    def classify(self, exc: BaseException, params: DatabaseT, endpoint: ReachedAddress) -> Failure:
        """Turn a driver error into a verdict, from SQLSTATE, error numbers and exception types."""

    def success_body(self, server: dict[str, Any], tls: dict[str, Any], endpoint: ReachedAddress, ctx: RunContext) -> str:
        version = f" {server['version']}" if server.get("version") else ""
        where = f"{endpoint.host}:{endpoint.port}" + (" through the SSH tunnel" if endpoint.via_ssh else "")
        parts = [f"Connected to {server.get('product', self.label)}{version} at {where}"]
        if server.get("user"):
            parts.append(f" as '{server['user']}'")
        if server.get("database"):
            parts.append(f", database '{server['database']}'")
        if server.get("schema"):
            parts.append(f", schema '{server['schema']}'")
        parts.append(f". {tls_hook.describe(tls)}. The test took {ctx.deadline.elapsed_ms()} ms.")
        if endpoint.via_ssh:
            from backend.hooks import ssh as ssh_hook

            parts.append(ssh_hook.tunnel_sentence(ctx))
        return "".join(parts)


def _translated(fn: Callable[[], Awaitable[T]], connector: SQLConnector[DatabaseT], params: DatabaseT,
                endpoint: ReachedAddress) -> Callable[[], Awaitable[T]]:
    return classified(fn, lambda exc: connector.classify(exc, params, endpoint))


def quietly(fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)``, whatever it raises: for closing, where a broken connection may fail to close."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
        pass


def close_quietly(conn: Any) -> None:
    quietly(conn.close)


def close_after_answer(conn: Any) -> None:
    """Close ``conn`` in a driver thread once the verdict is sent: the answer waits neither for the close
    nor for the database server's end of the session. Outside a request (the command line, the scheduler),
    at once, as the test ends."""
    if not after_answer(lambda: in_driver_thread("wizard-close", conn.close)):
        close_quietly(conn)

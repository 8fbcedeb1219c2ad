"""The shared diagnosis of SQL databases: dns → tcp → ssh → tls/authentication/database → query."""

from __future__ import annotations

import importlib.util
import threading
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from backend.connectors.base import Connector, TestContext, classified
from backend.diagnosis import Failure, run_blocking
from backend.fields import PropertyDict
from backend.messages import Code
from backend.netprobe import reach, resolve
from backend.schemas import ApplicationMessage, SystemMessageKind

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy


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


@dataclass
class Endpoint:
    """Where the driver connects: the address that was checked, or the tunnel's local end."""

    host: str
    """The host as the user gave it (shown in messages; used to verify TLS certificates)."""
    address: str
    port: int
    via_ssh: bool = False


class SQLConnector(Connector):
    """A database reached over TCP by a DB-API driver."""

    default_port: ClassVar[int]
    protocols: ClassVar[dict[str, Driver]]
    """Every protocol this connector knows, the spec's default first."""
    product: ClassVar[str]

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

    async def diagnose(self, params: Any, ctx: TestContext) -> ApplicationMessage:
        d = ctx.diagnosis

        async def parameters() -> None:
            self.check_parameters(params, ctx)

        await d.step("parameters", parameters)
        endpoint = await self.reach(params, ctx)

        async def login() -> Any:
            return await self.open_connection(params, endpoint, ctx)

        try:
            conn = await d.step("tls", _translated(login, self, params, endpoint), covers=("authentication", "database"))
        except Failure:
            raise
        ctx.stack.callback(close_quietly, conn)
        tls = self.tls_state(conn)
        d.payload["tls"] = tls
        d.mark("tls", "passed" if tls.get("enabled") else "warning", describe_tls(tls))

        async def query() -> dict[str, Any]:
            return await self.run_query(conn, params, ctx)

        server = await d.step("query", _translated(query, self, params, endpoint))
        d.payload["server"] = server
        return d.message(
            Code.CONNECTION_SUCCESSFUL,
            kind=SystemMessageKind.success,
            title=f"Connected to {self.label}",
            body=self.success_body(server, tls, endpoint, ctx),
        )

    def check_parameters(self, params: Any, ctx: TestContext) -> None:
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
            raise Failure(
                Code.DRIVER_NOT_AVAILABLE,
                f"The protocol '{protocol}' needs the Python package '{driver.package}', which is not installed.",
                fields={"protocol": f"Install '{driver.package}' or choose one of: {', '.join(self.protocol_values())}."},
            )

    async def reach(self, params: Any, ctx: TestContext) -> Endpoint:
        """The dns, tcp and ssh stages: where the driver should connect."""
        d = ctx.diagnosis
        port = params.port or self.default_port
        tunnel = params.hooks_params.SSHTunnel if params.hooks_params else None
        if tunnel is not None:
            # paramiko and sshtunnel take ~0.2 s to import: only when a tunnel is asked for (bench/RESULTS.md).
            from backend.hooks import ssh as ssh_hook

            return await ssh_hook.reach_through_tunnel(tunnel, params.host, port, ctx)
        addresses = await d.step("dns", lambda: resolve(params.host, port, ctx.deadline, ctx.policy))
        d.note("dns", f"{params.host} → {', '.join(addresses)}")
        address = await d.step("tcp", lambda: reach(addresses, port, ctx.deadline, host=params.host))
        d.note("tcp", f"{address}:{port} accepted the connection")
        d.mark("ssh", "skipped", "No SSH tunnel was asked for.")
        return Endpoint(host=params.host, address=address, port=port)

    # --- what each database fills in --------------------------------------------------------

    async def open_connection(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> Any:
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

    async def run_query(self, conn: Any, params: Any, ctx: TestContext) -> dict[str, Any]:
        """The test query: :meth:`inspect` in its own thread, bounded by the deadline."""
        return await run_blocking(lambda: self.inspect(conn, params), ctx.deadline, "the test query", stage="query")

    def url(self, params: Any, endpoint: Endpoint) -> URL:
        """The SQLAlchemy URL (never string formatting: any character in a password works)."""
        from sqlalchemy.engine import URL

        return URL.create(
            params.protocol or self.model.model_fields["protocol"].default,
            username=params.username,
            password=params.password,
            host=endpoint.address,
            port=endpoint.port,
            database=params.database,
        )

    def driver_call(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
        """The dialect, positional and keyword arguments the driver is called with (tested as they are):
        SQLAlchemy's own for :meth:`url`, then :meth:`connect_args`."""
        url = self.url(params, endpoint)
        dialect_cls = url.get_dialect()
        dialect = dialect_cls(dbapi=dialect_cls.import_dbapi())  # type: ignore[call-arg]
        cargs, cparams = dialect.create_connect_args(url)
        cparams.update(self.connect_args(params, endpoint, ctx))
        return dialect, tuple(cargs), dict(cparams)

    def connect(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> Any:
        """Open a DB-API connection the way SQLAlchemy would, without an engine's extra round trips."""
        dialect, cargs, cparams = self.driver_call(params, endpoint, ctx)
        return dialect.connect(*cargs, **cparams)

    @abstractmethod
    def connect_args(self, params: Any, endpoint: Endpoint, ctx: TestContext) -> dict[str, Any]:
        """Driver arguments: deadlines first, then TLS."""

    @abstractmethod
    def inspect(self, conn: Any, params: Any) -> dict[str, Any]:
        """Run the test query; return what was verified (product, version, user, database, schema)."""

    def tls_state(self, conn: Any) -> dict[str, Any]:
        """The TLS state actually negotiated: enabled, version, cipher, verified."""
        return {"enabled": None}

    @abstractmethod
    def classify(self, exc: BaseException, params: Any, endpoint: Endpoint) -> Failure:
        """Turn a driver error into a verdict, from SQLSTATE, error numbers and exception types."""

    def success_body(self, server: dict[str, Any], tls: dict[str, Any], endpoint: Endpoint, ctx: TestContext) -> str:
        version = f" {server['version']}" if server.get("version") else ""
        where = f"{endpoint.host}:{endpoint.port}" + (" through the SSH tunnel" if endpoint.via_ssh else "")
        parts = [f"Connected to {server.get('product', self.label)}{version} at {where}"]
        if server.get("user"):
            parts.append(f" as '{server['user']}'")
        if server.get("database"):
            parts.append(f", database '{server['database']}'")
        if server.get("schema"):
            parts.append(f", schema '{server['schema']}'")
        parts.append(f". {describe_tls(tls)}. The test took {ctx.deadline.elapsed_ms()} ms.")
        if endpoint.via_ssh:
            from backend.hooks import ssh as ssh_hook

            parts.append(ssh_hook.tunnel_sentence(ctx))
        return "".join(parts)


def describe_tls(tls: dict[str, Any]) -> str:
    if tls.get("enabled") is None:
        return "The encryption state of the link is not known"
    if not tls.get("enabled"):
        return "The link is NOT encrypted"
    version = tls.get("version") or "TLS"
    verified = tls.get("verified")
    if verified is True:
        return f"The link is encrypted with {version}; the server's certificate was verified"
    if verified is False:
        return f"The link is encrypted with {version}, but the server's certificate was NOT verified"
    return f"The link is encrypted with {version}"


def _translated(fn: Any, connector: SQLConnector, params: Any, endpoint: Endpoint) -> Any:
    return classified(fn, lambda exc: connector.classify(exc, params, endpoint))


def quietly(fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)``, whatever it raises: for closing, where a broken connection may fail to close."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do
        pass


def close_quietly(conn: Any) -> None:
    quietly(conn.close)


def in_background(name: str, fn: Callable[..., Any], *args: Any) -> None:
    """``fn(*args)`` quietly in a daemon thread: a close that talks to the server, never on the event loop's thread."""
    threading.Thread(target=quietly, args=(fn, *args), name=name, daemon=True).start()


_STAGE_OF: dict[Code, str] = {
    Code.AUTHENTICATION_FAILED: "authentication",
    Code.KERBEROS_FAILED: "authentication",
    Code.PERMISSION_DENIED: "database",
    Code.DATABASE_NOT_FOUND: "database",
    Code.SCHEMA_NOT_FOUND: "query",
}


def stage_of(code: Code) -> str:
    """The stage of the login handshake a driver error belongs to (tls for transport errors)."""
    return _STAGE_OF.get(code, "tls")


def one_line(text: str) -> str:
    """A driver's (possibly multi-line) message on one line."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())

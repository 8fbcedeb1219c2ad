"""Databricks SQL: databricks-sql-connector (Thrift over HTTPS) behind ``databricks-sqlalchemy``.

The workspace is reached by its host name over HTTPS, always: the driver verifies the
certificate against that name (with the system's CAs, or a CA given in the SSL hook). So the
driver resolves the name itself; the wizard has checked it against the target policy just before.

Deadlines (databricks-sql-connector, ``databricks/sql/client.py`` "Internal arguments" and
``auth/retry.py``): ``_socket_timeout`` bounds every connect and read; the retry policy is cut to
the fewest attempts it allows, a 0.1 s back-off and a total retry duration of the time left, because
by default a silent or failing workspace is retried for up to 900 s (measured here: 60 s for a 503). The
SQLAlchemy dialect drops the URL's port, so it goes in ``_port``.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from backend.connectors.base import functionality
from backend.connectors.sql import DatabaseModel, Driver, SQLConnector
from backend.core import ReachedAddress, RunContext
from backend.core.rules import ErrorFacts, ErrorRule, classify, exception_chain, one_line
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure, in_driver_thread
from backend.hooks import tls
from backend.spec.fields import SECRET
from backend.spec.formfacts import Alternative, FieldFacts, Option, URICut, URIDialect, URIFacts, URIParts

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy


class CreateDatabricksConnector(DatabaseModel):
    connector_type: Literal["DatabricksConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    catalog: str = Field(min_length=1, title="Catalog")
    database: str = Field(min_length=1, title="Database")
    port: int | None = Field(default=443, ge=1, le=65535, title="Port")
    token: Annotated[str, SECRET] = Field(min_length=1, title="Token", repr=False)
    protocol: str | None = Field(default="databricks", title="Protocol")
    cluster_path: str | None = Field(default=None, title="Cluster Path")
    warehouse_id: str | None = Field(default=None, title="Warehouse Id")
    include_views: bool | None = Field(default=False, title="Include Views")


WAREHOUSE_PATH = "/sql/1.0/warehouses/"
"""A SQL warehouse's HTTP path (Databricks: "Get connection details for a Databricks compute resource",
https://docs.databricks.com/en/integrations/compute-details.html)."""
_WAREHOUSE_ID = re.compile(r"^[A-Za-z0-9]+$")
_PATH_FIELDS = ("warehouse_id", "cluster_path")

# Error classes Databricks puts in brackets at the start of a server error, with its SQLSTATE
# (https://docs.databricks.com/en/error-messages/index.html). They are stable identifiers; the
# connector passes the server's text on without a structured field for them (the Thrift status's
# sqlState is not kept, databricks/sql/backend/thrift_backend.py _check_response_for_error).
_CATALOG = {"catalog": "No catalog of this name in the workspace."}
_SCHEMA = {"database": "No schema of this name in the catalog."}
_RULES: tuple[ErrorRule, ...] = (
    ErrorRule(Code.DATABASE_NOT_FOUND, _CATALOG, number="NO_SUCH_CATALOG_EXCEPTION"),
    ErrorRule(Code.DATABASE_NOT_FOUND, _CATALOG, number="CATALOG_NOT_FOUND"),
    ErrorRule(Code.SCHEMA_NOT_FOUND, _SCHEMA, number="SCHEMA_NOT_FOUND"),
    ErrorRule(Code.SCHEMA_NOT_FOUND, _SCHEMA, number="NO_SUCH_DATABASE_EXCEPTION"),
    ErrorRule(Code.PERMISSION_DENIED, {"catalog": "The token's user may not use this catalog or schema."},
              number="INSUFFICIENT_PERMISSIONS"),
    ErrorRule(Code.PERMISSION_DENIED, {"token": "The token's user lacks a permission the test needs."}, number="PERMISSION_DENIED"),
)
_ERROR_CLASS = re.compile(r"\[([A-Z][A-Z0-9_]+)(?:\.[A-Z0-9_]+)?\]")


@dataclass
class _Session:
    """A Databricks connection, closed once (closing is an HTTP call: never on the event loop's thread)."""

    conn: Any
    closed: bool = False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        in_driver_thread("wizard-databricks-close", self.conn.close)


class DatabricksURIs(URIDialect):
    """``jdbc:databricks://host:443/default;httpPath=…;UID=token;PWD=…``: ``;key=value`` settings after the schema."""

    def read(self, scheme: str, rest: str, cut: URICut) -> URIParts:
        parts = cut(rest)
        parts.path, _, settings = parts.path.partition(";")
        parts.add_parameters(settings, ";")
        return parts


class Databricks(SQLConnector[CreateDatabricksConnector]):
    type_name = "DatabricksConnector"
    label = "Databricks"
    product = "Databricks SQL"
    position = 5
    model = CreateDatabricksConnector
    example = {"connector_type": "DatabricksConnector",
               "host": "adb-1234567890123456.7.azuredatabricks.net", "port": 443, "catalog": "main", "database": "default", "token": "dapi-example-token", "warehouse_id": "1234567890abcdef"}
    # Form facts (GET …/forms/, backend.spec.uri): databricks://token:<token>@host?http_path=…&catalog=…&schema=…
    # (databricks-sqlalchemy) and jdbc:databricks://host:443/schema;httpPath=…;UID=token;PWD=<token>.
    form_fields = {
        "host": FieldFacts("Workspace host", "The workspace's host name, without https:// in front.",
                           "adb-1234567890123456.7.azuredatabricks.net"),
        "catalog": FieldFacts("Catalog", "The Unity Catalog catalog to open.", "main"),
        "database": FieldFacts("Schema", "The schema (database) inside the catalog.", "default"),
        "token": FieldFacts("Access token", "A personal access token (dapi…). It is never shown again."),
        "warehouse_id": FieldFacts("SQL warehouse ID", "The ID of a SQL warehouse: the end of its HTTP path "
                                                       "/sql/1.0/warehouses/<id>.", "1234567890abcdef"),
        "cluster_path": FieldFacts("HTTP path", "The HTTP path of a cluster (its JDBC/ODBC settings) or of a SQL "
                                                "warehouse.", "sql/protocolv1/o/1234567890123456/0123-456789-abcdefgh"),
    }
    alternatives = (
        Alternative("compute", "Run on", (Option("SQL warehouse", ("warehouse_id",)),
                                          Option("Cluster or HTTP path", ("cluster_path",)))),
    )
    uri = URIFacts(schemes=("databricks", "jdbc:databricks"),
                   example="databricks://adb-1234567890123456.7.azuredatabricks.net:443/default?catalog=main",
                   parts={"host": "host", "port": "port", "user": "", "password": "token", "path": "database"},
                   query={"http_path": "cluster_path", "httppath": "cluster_path", "schema": "database",
                          "connschema": "database", "conncatalog": "catalog", "pwd": "token",
                          "uid": "", "transportmode": "", "ssl": "", "authmech": ""},
                   dialect=DatabricksURIs(),
                   spellings=("jdbc:databricks://adb-1234567890123456.7.azuredatabricks.net:443/default;ConnCatalog=main",))
    hooks = frozenset({"SSL"})
    hook_notes = {
        "SSHTunnel": "Databricks is reached over HTTPS by the workspace's host name, and its certificate is checked "
                     "against that name: through an SSH tunnel the driver would talk to the tunnel's local end and "
                     "that check would fail. Reach the workspace directly (or through an HTTPS proxy).",
        "Kerberos": "Databricks logs in with a personal access token (the token field), not Kerberos.",
    }
    # Always HTTPS with the certificate and host name verified: the SSL hook only adds a CA
    # (``_tls_trusted_ca_file``) or a client certificate (``_tls_client_cert_file``).
    ssl_modes = ("verify-full",)
    ssl_refusals = {
        word: "Databricks is always reached over HTTPS with its certificate and host name verified."
        for word in ("disable", "allow", "prefer", "require", "verify-ca")
    }
    protocols = {"databricks": Driver("databricks.sqlalchemy", "databricks-sqlalchemy")}

    # --- parameters ---------------------------------------------------------------------------

    def check_parameters(self, params: CreateDatabricksConnector, ctx: RunContext) -> None:
        super().check_parameters(params, ctx)
        host = params.host.strip()
        if "://" in host or "/" in host or any(c.isspace() for c in host):
            raise Failure(Code.INVALID_PARAMETERS, "The host is the workspace's host name alone.",
                          fields={"host": "Give the host name only, e.g. adb-1234567890123456.7.azuredatabricks.net "
                                          "(no https://, no path)."})
        if any(ord(c) < 32 or ord(c) == 127 for c in params.token):
            raise Failure(Code.INVALID_PARAMETERS, "The token contains control characters (a line break?).",
                          fields={"token": "Paste the access token alone, without line breaks."})
        http_path(params)
        tls.prepare(params.hooks_params.SSL if params.hooks_params else None, ctx, self.ssl_words())

    # --- the connection -----------------------------------------------------------------------

    def url(self, params: CreateDatabricksConnector, endpoint: ReachedAddress) -> URL:
        # databricks-sqlalchemy's URL: databricks://token:<token>@<host>?http_path=…&catalog=…&schema=…
        # (https://github.com/databricks/databricks-sqlalchemy#connection-string). The host name,
        # not the checked address: TLS verifies the certificate against it.
        from sqlalchemy.engine import URL

        return URL.create(
            "databricks",
            username="token",
            password=params.token,
            host=params.host.strip(),
            port=endpoint.port,
            query={"http_path": http_path(params), "catalog": params.catalog, "schema": params.database},
        )

    def connect(self, params: CreateDatabricksConnector, endpoint: ReachedAddress, ctx: RunContext) -> Any:
        return _Session(super().connect(params, endpoint, ctx))

    def connect_args(self, params: CreateDatabricksConnector, endpoint: ReachedAddress, ctx: RunContext) -> dict[str, Any]:
        remaining = max(1.0, ctx.deadline.remaining())
        args: dict[str, Any] = {
            "_port": endpoint.port,
            "_socket_timeout": remaining,
            # Bounds from databricks/sql/backend/thrift_backend.py (_retry_policy: type, default, min, max).
            "_retry_stop_after_attempts_count": 1,
            "_retry_stop_after_attempts_duration": remaining,
            "_retry_delay_min": 0.1,
            "_retry_delay_max": 5.0,
            "enable_telemetry": False,  # no failure reports sent to the workspace on the wizard's behalf
            "user_agent_entry": "connection-wizard",
        }
        found = tls.material(ctx)
        if found is not None:
            if found.ca is not None:
                args["_tls_trusted_ca_file"] = str(found.ca)
            if found.cert is not None and found.key is not None:
                args["_tls_client_cert_file"] = str(found.cert)
                args["_tls_client_cert_key_file"] = str(found.key)
        return args

    def tls_state(self, conn: Any) -> dict[str, Any]:
        # HTTPS with the default verification (cert_reqs=CERT_REQUIRED, the host name checked by
        # urllib3): a connection only exists if both passed. The negotiated version is not exposed.
        return tls.state(True, verified=True, hostname_verified=True)

    # --- the test query -----------------------------------------------------------------------

    def inspect(self, conn: Any, params: CreateDatabricksConnector) -> dict[str, Any]:
        # The session stays open: live capabilities read the grants on it next, and the run's
        # clean-up closes it (in the background) whatever happens.
        session: _Session = conn
        cursor = session.conn.cursor()
        try:
            # current_version(): STRUCT<dbr_version, dbsql_version, u_build_hash, r_build_hash>
            # (https://docs.databricks.com/en/sql/language-manual/functions/current_version.html)
            cursor.execute("SELECT current_version(), current_user(), current_catalog(), current_schema()")
            version, user, catalog, schema = cursor.fetchone()
        finally:
            cursor.close()
        release = _field(version, "dbsql_version") or _field(version, "dbr_version")
        return {
            "product": "Databricks SQL" if _field(version, "dbsql_version") else "Databricks Runtime",
            "version": release,
            "user": user,
            "database": catalog,
            "schema": schema,
        }

    def success_body(self, server: dict[str, Any], tls_info: dict[str, Any], endpoint: ReachedAddress, ctx: RunContext) -> str:
        return super().success_body(server, tls_info, endpoint, ctx).replace(", database '", ", catalog '", 1)

    # --- errors -------------------------------------------------------------------------------

    def classify(self, exc: BaseException, params: CreateDatabricksConnector, endpoint: ReachedAddress) -> Failure:
        path_field = _path_field(params)
        for err in exception_chain(exc):
            http_code = _http_code(err)
            if http_code is not None:
                return _http_failure(http_code, err, path_field)
            if isinstance(err, ssl.SSLCertVerificationError):
                return tls.certificate_failure(err, tls.blame_in(params, "ca"), name_why="The workspace's certificate does not name this host.",
                    ca_why="The certificate is not signed by a CA the wizard trusts: give the CA.")
            if isinstance(err, ssl.SSLError):
                if err.reason in ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "RECORD_LAYER_FAILURE"):
                    return Failure(Code.TLS_NOT_SUPPORTED, f"No HTTPS on this port ({err.reason}).",
                                   fields={"port": "This port does not answer HTTPS: Databricks uses 443."}, stage="tls")
                return Failure(Code.TLS_HANDSHAKE_FAILED, one_line(str(err)), stage="tls")
            if isinstance(err, ConnectionRefusedError):
                return Failure(Code.PORT_CLOSED, f"{endpoint.host} refused the connection on port {endpoint.port}.",
                               fields={"port": "Nothing is listening on this port."}, stage="tcp")
            if isinstance(err, socket.gaierror):
                return Failure(Code.HOST_NOT_FOUND, f"No address is known for '{params.host}'.",
                               fields={"host": "Host name not found."}, stage="dns")
            if isinstance(err, TimeoutError) or type(err).__name__ in ("ReadTimeoutError", "ConnectTimeoutError"):
                return Failure(Code.CONNECTION_TIMEOUT, f"{endpoint.host}:{endpoint.port} did not answer in time.",
                               stage="tls")
            if type(err).__name__ in ("RemoteDisconnected", "ProtocolError"):
                return Failure(Code.UNEXPECTED_ERROR, "The server closed the connection without an HTTP answer.",
                               title="No Databricks SQL endpoint answered", stage="authentication",
                               fields={"host": "This host and port do not answer like a Databricks workspace."})
            if type(err).__name__ in ("MaxRetryDurationError", "ResponseError"):
                # The retry policy gave up on a retryable status (429, 503, 5xx) within the deadline
                # (databricks/sql/auth/retry.py, check_proposed_wait; urllib3 "too many … responses").
                return _unavailable("The workspace asked to retry later, beyond the test's deadline.")
        text = one_line(str(exc)) or type(exc).__name__
        return classify(ErrorFacts(text, numbers=tuple(_ERROR_CLASS.findall(text))), _RULES)

    # --- functionalities ----------------------------------------------------------------------
    # Databricks documentation (https://docs.databricks.com/en/…):
    # - tables/constraints.html: Delta tables enforce NOT NULL and CHECK constraints only; PRIMARY
    #   KEY and FOREIGN KEY constraints are informational, never enforced. There are no triggers
    #   and no secondary indexes to manage (Bloom filter indexes are legacy; data skipping and
    #   liquid clustering need no upkeep around a load).
    # - sql/language-manual/sql-ref-syntax-ddl-create-table-using.html, identity columns:
    #   GENERATED ALWAYS AS IDENTITY columns cannot be written; GENERATED BY DEFAULT AS IDENTITY
    #   columns take written values (delta/generated-columns.html, "Use identity columns").
    # - sql/language-manual/delta-truncate-table.html, delta-delete-from.html, delta-merge-into.html:
    #   TRUNCATE TABLE, DELETE and MERGE INTO work on Delta tables; CREATE OR REPLACE TABLE
    #   replaces a table atomically.
    functionalities = (
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Delta tables have nothing to switch off before a bulk load: primary and foreign keys are informational "
            "(not enforced), and there are no triggers and no secondary indexes. Identity columns can be written only "
            "when they are GENERATED BY DEFAULT AS IDENTITY; GENERATED ALWAYS columns cannot be written at all.",
            {"IDENTITY_WRITING": []},
        ),
        functionality(
            "IDEMPOTENT_WRITING",
            "PREVENTIVE",
            "FULL",
            "Writing the same data twice leaves the same result: TRUNCATE TABLE, DELETE or MERGE INTO on Delta tables "
            "(no foreign key ever blocks them, as none is enforced), or CREATE OR REPLACE TABLE.",
            {"DATA_TRUNCATION": [], "DATA_DELETION": [], "SCHEMA_MANAGEMENT": []},
        ),
    )


def http_path(params: CreateDatabricksConnector) -> str:
    """The HTTP path of the SQL warehouse (``warehouse_id``) or of the cluster (``cluster_path``): exactly one."""
    warehouse = (params.warehouse_id or "").strip()
    cluster = (params.cluster_path or "").strip()
    if bool(warehouse) == bool(cluster):
        why = ("Give either warehouse_id (a SQL warehouse) or cluster_path (a cluster's HTTP path), not both."
               if warehouse else "Give warehouse_id (a SQL warehouse) or cluster_path (a cluster's HTTP path).")
        raise Failure(Code.INVALID_PARAMETERS, why, fields=dict.fromkeys(_PATH_FIELDS, why), stage="parameters")
    if warehouse:
        if not _WAREHOUSE_ID.match(warehouse):
            raise Failure(Code.INVALID_PARAMETERS, "A warehouse ID is letters and digits only.",
                          fields={"warehouse_id": f"Give the ID alone (the end of {WAREHOUSE_PATH}<id>), "
                                                  "or the whole HTTP path as cluster_path."},
                          stage="parameters")
        return WAREHOUSE_PATH + warehouse
    if "://" in cluster or any(c.isspace() for c in cluster):
        raise Failure(Code.INVALID_PARAMETERS, "The cluster path is the HTTP path alone.",
                      fields={"cluster_path": "Give the HTTP path only, e.g. sql/protocolv1/o/<workspace-id>/<cluster-id>."},
                      stage="parameters")
    return cluster if cluster.startswith("/") else "/" + cluster


def _path_field(params: CreateDatabricksConnector) -> str:
    return "warehouse_id" if (params.warehouse_id or "").strip() else "cluster_path"


def _http_code(err: BaseException) -> int | None:
    context = getattr(err, "context", None)
    if isinstance(context, dict):
        code = context.get("http-code")
        if isinstance(code, int):
            return code
    return None


def _http_failure(http_code: int, err: BaseException, path_field: str) -> Failure:
    """RequestError's HTTP status (databricks/sql/exc.py RequestError: context['http-code'])."""
    context: dict[str, Any] = getattr(err, "context", {})
    said = str(context.get("error-message") or "").strip()
    detail = f"The workspace answered HTTP {http_code}" + (f" ({said})." if said else ".")
    if http_code in (401, 403):
        return Failure(Code.AUTHENTICATION_FAILED, detail, stage="authentication",
                       title="The workspace refused the access token",
                       body="The personal access token is wrong, expired or revoked, or its user may not use this "
                            "SQL warehouse or cluster. Create a new one (User Settings → Developer → Access tokens).",
                       fields={"token": "Refused by the workspace (wrong, expired or revoked, or without access)."})
    if http_code == 404:
        return Failure(Code.PATH_NOT_FOUND, detail, stage="authentication",
                       title="No SQL warehouse or cluster at this HTTP path",
                       body="Copy the warehouse ID (or the cluster's HTTP path) from its Connection details tab.",
                       fields={path_field: "The workspace has no SQL warehouse or cluster at this HTTP path."})
    if http_code in (429, 502, 503, 504):
        return _unavailable(detail)
    return Failure(Code.UNEXPECTED_ERROR, detail, stage="authentication", title="The workspace's answer was not understood",
                   fields={"host": "This host and port do not answer like a Databricks SQL endpoint."})


def _unavailable(detail: str) -> Failure:
    return Failure(Code.CONNECTION_TIMEOUT, detail, title="The warehouse or cluster is not ready",
                   body="The workspace answered, but asked to try again later (HTTP 429 or 5xx): the SQL warehouse or "
                        "cluster is busy, still starting (a stopped warehouse takes a few minutes), or failing. "
                        "Start it, wait, and test again.",
                   stage="authentication")


def _field(value: Any, name: str) -> str | None:
    """A field of a STRUCT value, as the connector returns it (a Row, a dict or a tuple-like)."""
    if value is None:
        return None
    if isinstance(value, dict):
        found = value.get(name)
    else:
        found = getattr(value, name, None)
        if found is None and hasattr(value, "asDict"):
            found = value.asDict().get(name)
    return str(found) if found else None


CONNECTOR = Databricks()

"""Fill the form from a pasted connection URI (``postgresql://user@host:5432/db``, ``s3://bucket/path``).

The scheme picks the connector: first by the connector metadata itself (a connector whose
``protocol`` choices or default start with the scheme, e.g. ``mysql`` → ``mysql+mysqldb``),
then by a short list of well-known aliases. URI parts go to fields by name, and only to
fields the chosen connector has; what fits nowhere is reported back (by name, never its value).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from components.metadata import all_connector_types, connector_hooks, connector_props, parse_type

SCHEME_ALIASES: dict[str, str] = {
    "postgres": "PostgreSQLConnector",
    "postgresql": "PostgreSQLConnector",
    "pgsql": "PostgreSQLConnector",
    "mysql": "MySQLMariaDBConnector",
    "mariadb": "MySQLMariaDBConnector",
    "mssql": "MsSQLConnector",
    "sqlserver": "MsSQLConnector",
    "oracle": "OracleConnector",
    "db2": "DB2Connector",
    "ibm_db_sa": "DB2Connector",
    "sybase": "SybaseConnector",
    "databricks": "DatabricksConnector",
    "s3": "S3FSConnector",
    "s3a": "S3FSConnector",
    "abfs": "ADLSFSConnector",
    "abfss": "ADLSFSConnector",
    "az": "ADLSFSConnector",
    "adl": "ADLSFSConnector",
}

# Query parameters known under other names, → the field they fill (first one the connector has).
QUERY_ALIASES: dict[str, tuple[str, ...]] = {
    "user": ("username",),
    "dbname": ("database",),
    "service_name": ("database",),
    "sid": ("database",),
    "schema": ("schema_name", "database"),
    "currentschema": ("schema_name",),
    "search_path": ("schema_name",),
    "http_path": ("cluster_path",),
    "sslmode": ("hooks_params.SSL.ssl_mode",),
    "ssl_mode": ("hooks_params.SSL.ssl_mode",),
    "ssl-mode": ("hooks_params.SSL.ssl_mode",),
}
USER_FIELDS = ("username", "aws_access_key_id")
SECRET_FIELDS = ("password", "token", "aws_secret_access_key", "storage_account_key")
HOST_FIELDS = ("host", "bucket")


class UriError(ValueError):
    """The text is not a URI the wizard can read; the message is safe to show."""


@dataclass
class ParsedUri:
    connector_type: str
    values: dict[str, Any] = field(default_factory=dict)
    """Field path → value (``hooks_params.SSL.ssl_mode`` for hook fields)."""
    unused: list[str] = field(default_factory=list)
    """Names of URI parts that fit no field of the connector."""


def _connector_for(scheme: str, supported: dict[str, Any]) -> str | None:
    base = scheme.split("+", 1)[0]
    types = all_connector_types(supported)
    for connector_type in types:
        protocol = connector_props(supported, connector_type).get("protocol") or {}
        choices = [*(protocol.get("values") or []), protocol.get("default")]
        if any(isinstance(c, str) and c.split("+", 1)[0] == base for c in choices):
            return connector_type
    alias = SCHEME_ALIASES.get(base)
    return alias if alias in types else None


def parse_uri(text: str, supported: dict[str, Any]) -> ParsedUri:
    text = text.strip()
    if "://" not in text:
        raise UriError("This does not look like a connection URI: it should start like postgresql:// or s3://.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise UriError("The URI's port is not a number between 0 and 65535.") from None
    scheme = parts.scheme.lower()
    connector_type = _connector_for(scheme, supported)
    if connector_type is None:
        raise UriError(f"No connector of this wizard reads '{scheme}://' URIs.")
    props = connector_props(supported, connector_type)
    hooks = connector_hooks(props, supported.get("hooks") or {})
    hook_fields = {
        f"hooks_params.{h}.{name}" for h in hooks for name in (supported.get("hooks") or {}).get(h, {})
    }
    result = ParsedUri(connector_type)

    def has(path: str) -> bool:
        return path in props or path in hook_fields

    def kind_of(path: str) -> str:
        prop = props.get(path)
        if prop is None and path.startswith("hooks_params."):
            _, hook, name = path.split(".", 2)
            prop = ((supported.get("hooks") or {}).get(hook) or {}).get(name)
        return parse_type((prop or {}).get("type"))[0]

    def put(candidates: tuple[str, ...], value: Any, part: str) -> None:
        for path in candidates:
            if has(path) and path not in result.values:
                coerced = _coerce(kind_of(path), value)
                if coerced is None:
                    break
                result.values[path] = coerced
                return
        result.unused.append(part)

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    host = parts.hostname
    path = unquote(parts.path)
    base = scheme.split("+", 1)[0]

    if "+" in scheme and "protocol" in props:
        choices = (props["protocol"] or {}).get("values")
        if not choices or scheme in choices:
            result.values["protocol"] = scheme
        else:
            result.unused.append("driver")

    if base in ("abfs", "abfss") and host:
        # abfss://container@account.dfs.core.windows.net/path
        put(("storage_account_name",), host.split(".", 1)[0], "account")
        if username:
            put(("storage_container_name",), username, "container")
        if path.strip("/"):
            put(("remote_path",), path, "path")
    elif "bucket" in props or "storage_container_name" in props:
        # s3://bucket/path, az://container/path: the "host" is the bucket or container.
        if host:
            put(("bucket", "storage_container_name"), parts.netloc.rsplit("@", 1)[-1].split(":")[0], "bucket")
        if path.strip("/"):
            put(("remote_path",), path, "path")
        if username:
            put(USER_FIELDS, username, "user")
        if password:
            put(SECRET_FIELDS, password, "password")
    else:
        if host:
            put(HOST_FIELDS, host, "host")
        if port is not None:
            put(("port",), port, "port")
        if username and not (password and username == "token" and "token" in props):
            put(USER_FIELDS, username, "user")
        if password:
            put(SECRET_FIELDS, password, "password")
        if path.strip("/"):
            put(("database",), path.strip("/"), "database")

    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        lowered = key.lower()
        if lowered == "http_path" and "/warehouses/" in value and has("warehouse_id"):
            put(("warehouse_id",), value.rstrip("/").rsplit("/", 1)[-1], key)
            continue
        if lowered == "region" or has(key):
            put((key,) if has(key) else ("region",), value, key)
            continue
        targets = QUERY_ALIASES.get(lowered)
        if targets is None:
            result.unused.append(key)
            continue
        if targets == ("hooks_params.SSL.ssl_mode",):
            mode = _ssl_mode(value, props, supported)
            if mode is None:
                result.unused.append(key)
                continue
            value = mode
        put(targets, value, key)
    return result


def _coerce(kind: str, value: Any) -> Any:
    """A URI part as the field's kind wants it; None when it cannot be one."""
    if kind in ("integer", "number"):
        try:
            return int(value) if kind == "integer" else float(value)
        except (TypeError, ValueError):
            return None
    if kind == "boolean":
        text = str(value).strip().lower()
        return True if text in ("1", "true", "yes", "on") else False if text in ("0", "false", "no", "off") else None
    return value if isinstance(value, str) else str(value)


def _ssl_mode(value: str, props: dict[str, Any], supported: dict[str, Any]) -> str | None:
    """The connector's own spelling of an ``sslmode`` (``require`` → ``REQUIRED`` for MySQL)."""
    override = props.get("hooks_params.SSL.ssl_mode") or {}
    base = ((supported.get("hooks") or {}).get("SSL") or {}).get("ssl_mode") or {}
    choices = override.get("values") or base.get("values")
    if not choices:
        return value
    wanted = value.lower().replace("_", "-")
    for choice in choices:
        spelled = choice.lower().replace("_", "-")
        if spelled == wanted or (spelled.startswith(wanted) and len(spelled) - len(wanted) <= 3):
            return str(choice)
    return None

"""Minimal valid request bodies for every connector, built from its ``supported_types`` Property metadata.

The benchmark aims every connector at loopback endpoints it controls (a closed port, a silent
listener, a name under ``.invalid``, a real server). It never knows the connectors in advance:
it reads the Property metadata (``GET supported_types``), fills every required field with a
plausible value, and points the fields that say *where* (host, port, a connection string's
endpoint) at the target. ``tests/test_bench.py`` checks that what it builds validates for every
connector in the registry, so the benchmark stays honest as connectors are added.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOOPBACK = "127.0.0.1"
UNRESOLVABLE = "wizard-bench.invalid"
"""RFC 6761: a name under ``.invalid`` never resolves (the wizard answers without asking the network)."""

# Azurite's documented development account (public, not a secret):
# https://learn.microsoft.com/azure/storage/common/storage-use-azurite#well-known-storage-account-and-key
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

ENV_ENDPOINTS: dict[str, str] = {"S3FSConnector": "AWS_ENDPOINT_URL_S3"}
"""Connectors whose endpoint is not a request field but the API process's environment (boto3 reads
``AWS_ENDPOINT_URL_S3``): the bench starts one API process per endpoint for them."""


@dataclass(frozen=True)
class Target:
    """Where a body points, and with which credentials."""

    host: str = LOOPBACK
    port: int = 1
    username: str = "wizard"
    password: str = "bench-password"
    database: str = "appdb"
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Field values set last (e.g. ``protocol``)."""


def blob_connection_string(target: Target) -> str:
    """An Azure Storage connection string whose blob endpoint is the target (Azurite's URL layout)."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint=http://{target.host}:{target.port}/{AZURITE_ACCOUNT};"
    )


def _plain(kind: str | list[str] | None) -> tuple[str, bool]:
    """(scalar type, required?) of a Property ``type``: a list with ``"null"`` is optional."""
    if isinstance(kind, list):
        scalars = [k for k in kind if k != "null"]
        return (scalars[0] if scalars else "string"), "null" not in kind
    return (kind or "string"), True


def _by_name(name: str, target: Target) -> Any:
    """A plausible value for a field known by its name, or ``None``."""
    known: dict[str, Any] = {
        "host": target.host,
        "port": target.port,
        "database": target.database,
        "username": target.username,
        "password": target.password,
        "token": "dapi-bench-token",
        "catalog": "main",
        "bucket": "wizard-bench",
        "region": "us-east-1",
        "aws_access_key_id": "AKIAWIZARDBENCH00000",
        "aws_secret_access_key": "wizard-bench-secret-access-key",
        "storage_connection_string": blob_connection_string(target),
        "storage_container_name": "wizard-bench",
        "warehouse_id": "0123456789abcdef",
    }
    return known.get(name)


FILL_OPTIONAL = frozenset(
    {"port", "storage_connection_string", "storage_container_name", "aws_access_key_id", "aws_secret_access_key",
     "warehouse_id"}
)
"""Optional fields the bench fills anyway: they say where to connect (or with what), so that a
test reaches the network instead of stopping at a missing setting or at the machine's own
credentials (``~/.aws``)."""


def _value(name: str, prop: Mapping[str, Any], target: Target) -> Any:
    kind, _ = _plain(prop.get("type"))
    values = prop.get("values")
    default = prop.get("default")
    if values:
        return default if default in values else values[0]
    named = _by_name(name, target)
    if named is not None:
        return named
    if default is not None:
        return default
    return {"integer": 1, "number": 1.0, "boolean": False}.get(kind, "wizard-bench")


def build_body(connector_type: str, properties: Mapping[str, Mapping[str, Any]], target: Target) -> dict[str, Any]:
    """A minimal valid test body for ``connector_type`` from its Property metadata, aimed at ``target``."""
    body: dict[str, Any] = {"connector_type": connector_type}
    for name, prop in properties.items():
        if "." in name or name in ("hooks_params", "is_source", "connector_type"):
            continue
        _, required = _plain(prop.get("type"))
        if required or name in FILL_OPTIONAL:
            body[name] = _value(name, prop, target)
    body.update(target.extra)
    return body


def endpoint_kind(properties: Mapping[str, Any], connector_type: str) -> str:
    """How a connector is aimed: ``host`` (host/port fields), ``connection_string`` or ``env``; else ``none``."""
    if "host" in properties:
        return "host"
    if "storage_connection_string" in properties:
        return "connection_string"
    if connector_type in ENV_ENDPOINTS:
        return "env"
    return "none"

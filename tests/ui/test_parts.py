"""The UI's pure parts: URI parsing, PEM repair, masking, names, bounds (no Streamlit run)."""

from __future__ import annotations

from typing import Any

import pytest

from components.form import masked, normalize_pem, placeholder_for
from components.metadata import Bounds, connector_fields, spec_bounds
from components.names import connector_name
from components.uri import UriError, parse_uri
from tests.ui.conftest import LiveAPI


def test_a_pem_pasted_into_a_single_line_input_gets_its_line_breaks_back() -> None:
    pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\nZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    assert normalize_pem(pem.replace("\n", " ")) == pem
    assert normalize_pem(pem) == pem, "a well-formed PEM is left alone"
    encrypted = "-----BEGIN RSA PRIVATE KEY----- Proc-Type: 4,ENCRYPTED abc -----END RSA PRIVATE KEY-----"
    assert normalize_pem(encrypted) == encrypted, "headers cannot be rebuilt: left for the API to judge"
    assert normalize_pem("hunter2") == "hunter2"


def test_masked_replaces_every_secret_and_only_secrets() -> None:
    body = {"password": "pw", "host": "h", "hooks_params": {"SSHTunnel": {"pkey": "KEY", "host": "jump"}}}
    out = masked(body, ["password", "hooks_params.SSHTunnel.pkey"])
    assert out == {"password": "<PASSWORD>", "host": "h",
                   "hooks_params": {"SSHTunnel": {"pkey": "<SSHTUNNEL_PKEY>", "host": "jump"}}}
    assert body["password"] == "pw", "the body itself is untouched"
    assert placeholder_for("hooks_params.SSL.key") == "<SSL_KEY>"


def test_unknown_connector_types_get_a_readable_name() -> None:
    assert connector_name("PostgreSQLConnector") == "PostgreSQL"
    assert connector_name("SnowflakeConnector") == "Snowflake"
    assert connector_name("GoogleBigQueryConnector") == "Google Big Query"
    assert connector_name("HDFSFSConnector") == "HDFS"


def test_uri_parsing_against_the_live_metadata(supported: dict[str, Any]) -> None:
    parsed = parse_uri("postgresql+psycopg2://al%40ice:p%3Aw@[::1]:5433/sales?schema_name=s1&foo=1", supported)
    assert parsed.connector_type == "PostgreSQLConnector"
    assert parsed.values == {"protocol": "postgresql+psycopg2", "host": "::1", "port": 5433, "username": "al@ice",
                             "password": "p:w", "database": "sales", "schema_name": "s1"}
    assert parsed.unused == ["foo"]
    mysql = parse_uri("mariadb://u@db.example.invalid/shop?ssl-mode=require", supported)
    assert mysql.connector_type == "MySQLMariaDBConnector"
    assert mysql.values["hooks_params.SSL.ssl_mode"] == "REQUIRED", "the connector's own spelling"
    typed = parse_uri("postgresql://h/db?include_views=yes&port=6000&schema_name=x", supported)
    assert typed.values["include_views"] is True and typed.values["port"] == 6000
    assert parse_uri("postgresql://h/db?include_views=maybe", supported).unused == ["include_views"]
    with pytest.raises(UriError, match="port"):
        parse_uri("postgresql://h:99999/db", supported)
    with pytest.raises(UriError, match="gopher"):
        parse_uri("gopher://h/db", supported)
    with pytest.raises(UriError):
        parse_uri("just a host name", supported)


def test_port_bounds_come_from_the_served_schema(live_api: LiveAPI, supported: dict[str, Any]) -> None:
    import httpx

    bounds = spec_bounds(httpx.get(f"{live_api.url}/api/schema/", timeout=10).json())
    assert set(bounds) >= set(supported["write_connectors"])
    for connector_type, props in supported["write_connectors"].items():
        if "port" in props:
            assert bounds[connector_type]["port"] == Bounds(1, 65535), connector_type
        for spec in connector_fields(props, bounds.get(connector_type)):
            if spec.name == "port":
                assert (spec.minimum, spec.maximum) == (1, 65535), connector_type

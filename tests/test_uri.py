"""backend.spec.uri: connection URIs, jdbc: forms and Azure connection strings → bodies the models accept."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from backend.connectors import registry
from backend.spec.models import parse_connector
from backend.spec.uri import URIError, parse_uri
from tests.conftest import NASTY_PASSWORD

ACCOUNT_KEY = "a2V5LWZvci10ZXN0cy1vbmx5LWEta2V5LWZvci10ZXN0cy1vbmx5LWEta2V5LWZvci10ZXN0cw=="

# One URI per connector at least, and the body it must give (the model must accept it as is).
ROUND_TRIPS: list[tuple[str, dict[str, Any]]] = [
    ("postgresql://etl:pw@db.example.com:5432/sales?sslmode=verify-full&currentSchema=mart",
     {"connector_type": "PostgreSQLConnector", "host": "db.example.com", "port": 5432, "username": "etl",
      "password": "pw", "database": "sales", "schema_name": "mart",
      "hooks_params": {"SSL": {"ssl_mode": "verify-full"}}}),
    ("postgres+pg8000://etl:pw@[2001:db8::7]:6543/sales",
     {"connector_type": "PostgreSQLConnector", "protocol": "postgresql+pg8000", "host": "2001:db8::7", "port": 6543,
      "username": "etl", "password": "pw", "database": "sales"}),
    ("jdbc:postgresql://db.example.com/sales?user=etl&password=pw",
     {"connector_type": "PostgreSQLConnector", "host": "db.example.com", "database": "sales", "username": "etl",
      "password": "pw"}),
    ("mysql+pymysql://etl:pw@db.example.com/sales?ssl-mode=REQUIRED",
     {"connector_type": "MySQLMariaDBConnector", "protocol": "mysql+pymysql", "host": "db.example.com",
      "username": "etl", "password": "pw", "database": "sales", "hooks_params": {"SSL": {"ssl_mode": "REQUIRED"}}}),
    ("jdbc:mariadb://db.example.com:3307/sales?user=etl&password=pw",
     {"connector_type": "MySQLMariaDBConnector", "host": "db.example.com", "port": 3307, "database": "sales",
      "username": "etl", "password": "pw"}),
    ("jdbc:sqlserver://sql.example.com:1433;databaseName=sales;user=etl;password=pw",
     {"connector_type": "MsSQLConnector", "host": "sql.example.com", "port": 1433, "database": "sales",
      "username": "etl", "password": "pw"}),
    ("mssql+pymssql://etl:pw@sql.example.com/sales",
     {"connector_type": "MsSQLConnector", "protocol": "mssql+pymssql", "host": "sql.example.com", "username": "etl",
      "password": "pw", "database": "sales"}),
    ("jdbc:oracle:thin:etl/pw@//oracle.example.com:1521/ORCLPDB1",
     {"connector_type": "OracleConnector", "host": "oracle.example.com", "port": 1521, "username": "etl",
      "password": "pw", "database": "ORCLPDB1"}),
    ("oracle+oracledb://etl:pw@oracle.example.com:1521/?service_name=FREEPDB1",
     {"connector_type": "OracleConnector", "protocol": "oracle+oracledb", "host": "oracle.example.com",
      "port": 1521, "username": "etl", "password": "pw", "database": "FREEPDB1"}),
    ("jdbc:db2://db2.example.com:50000/SALES:currentSchema=MART;user=etl;password=pw;",
     {"connector_type": "DB2Connector", "host": "db2.example.com", "port": 50000, "database": "SALES",
      "schema_name": "MART", "username": "etl", "password": "pw"}),
    ("jdbc:sybase:Tds:ase.example.com:5000/sales?user=etl&password=pw",
     {"connector_type": "SybaseConnector", "host": "ase.example.com", "port": 5000, "database": "sales",
      "username": "etl", "password": "pw"}),
    ("databricks://token:dapi0123@adb-1.2.azuredatabricks.net:443/default"
     "?http_path=/sql/1.0/warehouses/abc123&catalog=main",
     {"connector_type": "DatabricksConnector", "host": "adb-1.2.azuredatabricks.net", "port": 443, "token": "dapi0123",
      "database": "default", "cluster_path": "/sql/1.0/warehouses/abc123", "catalog": "main"}),
    ("jdbc:databricks://adb-1.2.azuredatabricks.net:443/default;transportMode=http;ssl=1;"
     "httpPath=sql/protocolv1/o/1/0123-456789-abc;AuthMech=3;UID=token;PWD=dapi0123;ConnCatalog=main",
     {"connector_type": "DatabricksConnector", "host": "adb-1.2.azuredatabricks.net", "port": 443,
      "database": "default", "cluster_path": "sql/protocolv1/o/1/0123-456789-abc", "token": "dapi0123",
      "catalog": "main"}),
    ("s3://AKIAIOSFODNN7EXAMPLE:wJalr%2FK7MDENG@my-bucket/exports/2026/?region=eu-west-1",
     {"connector_type": "S3FSConnector", "bucket": "my-bucket", "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
      "aws_secret_access_key": "wJalr/K7MDENG", "remote_path": "/exports/2026/", "region": "eu-west-1"}),
    ("abfss://exports@mystorageaccount.dfs.core.windows.net/daily/",
     {"connector_type": "ADLSFSConnector", "storage_container_name": "exports",
      "storage_account_name": "mystorageaccount", "remote_path": "/daily/"}),
    ("az://exports/daily",
     {"connector_type": "ADLSFSConnector", "storage_container_name": "exports", "remote_path": "/daily"}),
]


@pytest.mark.parametrize(("uri", "expected"), ROUND_TRIPS, ids=[u.split(":")[0] + ":" + str(i) for i, (u, _) in
                                                              enumerate(ROUND_TRIPS)])
def test_round_trip(uri: str, expected: dict[str, Any]) -> None:
    parsed = parse_uri(uri)
    assert parsed.connection == expected
    assert parsed.notes == []
    model = parse_connector(parsed.connection)
    assert model.connector_type == expected["connector_type"]
    assert parsed.password_in_uri == any(k in expected for k in ("password", "token", "aws_secret_access_key"))


def test_every_connector_has_a_round_trip() -> None:
    assert {body["connector_type"] for _, body in ROUND_TRIPS} == set(registry())


def test_a_nasty_password_survives_percent_encoding() -> None:
    parsed = parse_uri(f"postgresql://etl:{quote(NASTY_PASSWORD, safe='')}@127.0.0.1:5432/sales")
    assert parsed.connection["password"] == NASTY_PASSWORD and parsed.connection["host"] == "127.0.0.1"
    assert parsed.password_in_uri


def test_oracle_sid_form_is_read_with_a_note() -> None:
    parsed = parse_uri("jdbc:oracle:thin:@oracle.example.com:1521:ORCL")
    assert parsed.connection["database"] == "ORCL" and parsed.connection["port"] == 1521
    assert any("SID" in note for note in parsed.notes)


@pytest.mark.parametrize(
    ("text", "field", "kind"),
    [
        (f"DefaultEndpointsProtocol=https;AccountName=mystorageaccount;AccountKey={ACCOUNT_KEY};"
         "EndpointSuffix=core.windows.net", "storage_connection_string", "account key"),
        ("BlobEndpoint=https://mystorageaccount.blob.core.windows.net;SharedAccessSignature=sv=2024-01-01&sig=abc",
         "container_connection_string", "shared access signature"),
    ],
)
def test_adls_connection_strings_are_kept_whole_as_secrets(text: str, field: str, kind: str) -> None:
    parsed = parse_uri(text)
    assert parsed.connection == {"connector_type": "ADLSFSConnector", field: text}, kind
    assert parsed.password_in_uri
    parse_connector({**parsed.connection, "storage_container_name": "exports"})


def test_an_azure_sas_url_is_kept_whole_as_a_secret() -> None:
    url = "https://mystorageaccount.blob.core.windows.net/exports?sv=2024-01-01&sp=rl&sig=Sas-Canary-1"
    parsed = parse_uri(url)
    assert parsed.connection == {"connector_type": "ADLSFSConnector", "container_connection_string": url}
    assert parsed.password_in_uri
    with pytest.raises(URIError) as caught:
        parse_uri("https://files.example.com/export?sig=Sas-Canary-1")
    assert ".blob.core.windows.net" in caught.value.message and "Sas-Canary-1" not in caught.value.message


def test_unknown_parameters_and_drivers_are_noted_by_name_only() -> None:
    parsed = parse_uri("postgresql+nodriver://etl@db.example.com/sales?application_name=secret-value-1")
    assert "protocol" not in parsed.connection, "the default driver is kept"
    assert any("nodriver" in n for n in parsed.notes) and any("application_name" in n for n in parsed.notes)
    assert "secret-value-1" not in " ".join(parsed.notes)


def test_a_hook_parameter_the_connector_cannot_use_is_left_out() -> None:
    parsed = parse_uri("sybase://etl@ase.example.com:5000/sales?sslmode=require")
    assert "hooks_params" not in parsed.connection
    assert any("sslmode" in n for n in parsed.notes)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Paste a connection URI"),
        ("just some words", "not a connection URI"),
        ("ftp://files.example.com/x", "'ftp:'"),
        ("jdbc:informix-sqli://h:9088/db", "'jdbc:informix-sqli:'"),
        ("postgresql://etl:Pw-Canary-1@db.example.com:99999/sales", "port"),
        ("postgresql://etl:Pw-Canary-1@db.example.com:54x2/sales", "port"),
        ("postgresql://etl:Pw-Canary-1@[2001:db8::7/sales", "brackets"),
        ("postgresql:db.example.com/sales", "'//'"),
        ("postgresql://etl:Pw-Canary-1@db1.example.com:5432,db2.example.com:5432/sales", "several hosts"),
        ("postgresql://db.example.com/sales?port=fast", "whole number"),
        ("postgresql://db.example.com/sales?include_views=maybe", "true or false"),
        ("Server=tcp:sql.example.com;Password=Pw-Canary-1", "connection string"),
    ],
)
def test_unreadable_text_is_a_clear_error_without_secrets(text: str, says: str) -> None:
    with pytest.raises(URIError) as caught:
        parse_uri(text)
    assert says in caught.value.message
    assert "Pw-Canary-1" not in caught.value.message


def test_parsing_needs_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pure: the UI process parses a pasted URI without the API's settings or any I/O."""
    import backend.settings

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("parse_uri read the settings")

    monkeypatch.setattr(backend.settings.Settings, "__init__", refuse)
    assert parse_uri("mysql://etl@db.example.com/sales").connection["host"] == "db.example.com"

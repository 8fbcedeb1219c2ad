"""ADLS / Azure Blob Storage against the suite's own Azurite: every code it can produce here."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.connectors._objectstore import Pins, StorageEndpoint, transport_failure
from backend.connectors.adls import ADLS, CONNECTOR, parse_connection_string, pinned_resolver
from backend.diagnosis.messages import Code
from backend.main import create_app
from tests.conftest import assert_matches_spec, make_settings, run_test, stage
from tests.servers.azurite import ACCOUNT, ACCOUNT_KEY, AzuriteServer
from tests.servers.common import LOOPBACK

CONTAINER = "wizard-container"
WRONG_KEY = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3Jvbmc="


def body(**fields: Any) -> dict[str, Any]:
    return {"connector_type": "ADLSFSConnector", "storage_container_name": CONTAINER, **fields}


def with_conn(server: AzuriteServer, **overrides: Any) -> dict[str, Any]:
    return body(storage_connection_string=server.connection_string(), **overrides)


def container_sas(server: AzuriteServer, **permissions: bool) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        ACCOUNT, CONTAINER, account_key=ACCOUNT_KEY, permission=ContainerSasPermissions(**permissions),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )


def assert_no_secret(msg: dict[str, Any], *secrets: str, caplog: pytest.LogCaptureFixture | None = None) -> None:
    text = json.dumps(msg)
    for secret in (ACCOUNT_KEY, WRONG_KEY, *secrets):
        assert secret not in text
        if caplog is not None:
            assert secret not in caplog.text
    assert "sig=" not in text and "AccountKey=" not in text


def test_success_with_a_connection_string(
    client: httpx.Client, azurite: AzuriteServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    msg = run_test(client, with_conn(azurite))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    server = msg["payload"]["server"]
    assert server["endpoint"] == f"http://{LOOPBACK}:{azurite.port}"
    assert server["account"] == ACCOUNT and server["container"] == CONTAINER and server["blobs_seen"] == 1
    assert server["credential"] == "storage_connection_string"
    assert [(s["name"], s["status"]) for s in msg["payload"]["stages"]] == [
        ("parameters", "passed"), ("dns", "passed"), ("tcp", "passed"), ("tls", "warning"),
        ("authentication", "passed"), ("container", "passed"), ("path", "passed"),
    ]
    assert CONTAINER in msg["body"] and ACCOUNT in msg["body"] and "NOT encrypted" in msg["body"]
    assert_no_secret(msg, azurite.connection_string(), caplog=caplog)


def test_success_under_a_path_with_blobs(client: httpx.Client, azurite: AzuriteServer) -> None:
    msg = run_test(client, with_conn(azurite, remote_path="/exports/"))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert "exports/" in msg["body"]


def test_success_with_a_container_sas(client: httpx.Client, azurite: AzuriteServer,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sas = container_sas(azurite, read=True, write=True, list=True)
    conn = f"BlobEndpoint={azurite.blob_endpoint};SharedAccessSignature={sas}"
    msg = run_test(client, body(container_connection_string=conn))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["credential"] == "container_connection_string"
    url = f"{azurite.blob_endpoint}/{CONTAINER}?{sas}"
    msg = run_test(client, body(storage_container_name=None, container_connection_string=url))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["container"] == CONTAINER
    assert_no_secret(msg, sas, url, caplog=caplog)


def test_sas_without_list_permission(client: httpx.Client, azurite: AzuriteServer) -> None:
    sas = container_sas(azurite, write=True)
    msg = run_test(client, body(container_connection_string=f"BlobEndpoint={azurite.blob_endpoint};"
                                                            f"SharedAccessSignature={sas}"))
    assert msg["code"] == "PERMISSION_DENIED", msg
    assert list(msg["details"]) == ["container_connection_string"]
    assert_no_secret(msg, sas)


def test_wrong_key(client: httpx.Client, azurite: AzuriteServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    conn = azurite.connection_string(WRONG_KEY)
    msg = run_test(client, body(storage_connection_string=conn))
    assert msg["code"] == "AUTHENTICATION_FAILED", msg
    assert list(msg["details"]) == ["storage_connection_string"]
    assert stage(msg, "authentication")["status"] == "failed"
    assert stage(msg, "container")["status"] == "skipped"
    assert_no_secret(msg, conn, caplog=caplog)


def test_missing_container(client: httpx.Client, azurite: AzuriteServer) -> None:
    msg = run_test(client, with_conn(azurite, storage_container_name="no-such-container"))
    assert msg["code"] == "CONTAINER_NOT_FOUND", msg
    assert list(msg["details"]) == ["storage_container_name"]
    assert stage(msg, "authentication")["status"] == "passed"
    assert stage(msg, "container")["status"] == "failed"


def test_empty_path_is_a_warning(client: httpx.Client, azurite: AzuriteServer) -> None:
    msg = run_test(client, with_conn(azurite, remote_path="not/yet"))
    assert msg["code"] == "PATH_NOT_FOUND", msg
    assert msg["kind"] == "warning"
    assert list(msg["details"]) == ["remote_path"]
    assert stage(msg, "container")["status"] == "passed"
    assert stage(msg, "path")["status"] == "warning"


def test_empty_directory_of_a_hierarchical_namespace_exists(client: httpx.Client, azurite: AzuriteServer) -> None:
    from azure.storage.blob import BlobServiceClient

    # What ADLS Gen2 shows through the Blob API for an empty directory.
    with BlobServiceClient.from_connection_string(azurite.connection_string()) as service:
        service.get_container_client(CONTAINER).upload_blob("empty-dir", b"", metadata={"hdi_isfolder": "true"},
                                                           overwrite=True)
    msg = run_test(client, with_conn(azurite, remote_path="/empty-dir"))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert "empty directory" in msg["body"]


@pytest.mark.parametrize(
    ("conn", "why"),
    [
        ("not a connection string", "malformed"),
        ("AccountName=devstoreaccount1;AccountKey", "malformed"),
        ("DefaultEndpointsProtocol=https;EndpointSuffix=core.windows.net;AccountKey=" + ACCOUNT_KEY, "no account"),
        ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=%%%notbase64%%%", "key"),
        ("DefaultEndpointsProtocol=https;AccountName=acct", "no credential"),
        ("BlobEndpoint=ftp://files.invalid;SharedAccessSignature=sv=1&sig=x", "endpoint"),
    ],
)
def test_malformed_connection_string(client: httpx.Client, conn: str, why: str) -> None:
    msg = run_test(client, body(storage_connection_string=conn))
    assert msg["code"] == "INVALID_PARAMETERS", (why, msg)
    assert list(msg["details"]) == ["storage_connection_string"]
    assert stage(msg, "dns")["status"] == "skipped"
    # Never echo the string, nor a part of it.
    assert conn not in json.dumps(msg)
    assert ACCOUNT_KEY not in json.dumps(msg) and "notbase64" not in json.dumps(msg)


def test_no_credentials(client: httpx.Client) -> None:
    msg = run_test(client, body())
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert sorted(msg["details"]) == sorted([
        "storage_connection_string", "container_connection_string", "storage_account_name", "storage_account_key",
    ])


def test_the_machines_own_azure_credentials_are_never_used(
    client: httpx.Client, azurite: AzuriteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # adlfs falls back on these variables (and on DefaultAzureCredential); the wizard tests the
    # request's credentials only, so a wrong key stays wrong and a missing one stays missing.
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", ACCOUNT_KEY)
    msg = run_test(client, body(storage_connection_string=azurite.connection_string(WRONG_KEY)))
    assert msg["code"] == "AUTHENTICATION_FAILED", msg
    msg = run_test(client, body())
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert stage(msg, "dns")["status"] == "skipped"


def test_account_name_without_key_and_key_without_name(client: httpx.Client) -> None:
    msg = run_test(client, body(storage_account_name="acct"))
    assert msg["code"] == "INVALID_PARAMETERS" and list(msg["details"]) == ["storage_account_key"]
    msg = run_test(client, body(storage_account_key=ACCOUNT_KEY))
    assert msg["code"] == "INVALID_PARAMETERS" and list(msg["details"]) == ["storage_account_name"]
    msg = run_test(client, body(storage_account_name="Not_Valid", storage_account_key=ACCOUNT_KEY))
    assert msg["code"] == "INVALID_PARAMETERS" and list(msg["details"]) == ["storage_account_name"]
    msg = run_test(client, body(storage_account_name="acct", storage_account_key="not a key!"))
    assert msg["code"] == "INVALID_PARAMETERS" and list(msg["details"]) == ["storage_account_key"]
    assert "not a key!" not in json.dumps(msg)


@pytest.mark.parametrize("name", [None, "ab", "Upper", "double--hyphen", "-start", "x" * 64])
def test_invalid_container_name(client: httpx.Client, azurite: AzuriteServer, name: str | None) -> None:
    msg = run_test(client, with_conn(azurite, storage_container_name=name))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == ["storage_container_name"]


def test_destination_only(client: httpx.Client, azurite: AzuriteServer) -> None:
    msg = run_test(client, with_conn(azurite, is_source=True))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["is_source"]


def test_target_policy_applies_to_the_endpoint(azurite: AzuriteServer) -> None:
    with TestClient(create_app(make_settings(blocked_targets=f"{LOOPBACK}/32"))) as blocked:
        msg = run_test(blocked, with_conn(azurite))
    assert msg["code"] == "TARGET_NOT_ALLOWED", msg
    assert list(msg["details"]) == ["storage_connection_string"]


async def _list_through(resolver_pins: Pins, url: str) -> list[str]:
    import aiohttp
    from azure.core.pipeline.transport import AioHttpTransport
    from azure.storage.blob.aio import ContainerClient

    connector = aiohttp.TCPConnector(resolver=pinned_resolver(resolver_pins), use_dns_cache=False)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        transport = AioHttpTransport(session=session, session_owner=False)
        async with ContainerClient(url, CONTAINER, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY},
                                   transport=transport, retry_total=0) as container:
            return await ADLS.first_names(container, "")


def test_client_is_pinned_to_the_checked_address(azurite: AzuriteServer) -> None:
    """The aiohttp session connects to the checked address without resolving the name again, and nowhere else."""
    from azure.core.exceptions import ServiceRequestError

    url = f"http://azurite.pinned.invalid:{azurite.port}/{ACCOUNT}"
    names = asyncio.run(_list_through(Pins({("azurite.pinned.invalid", azurite.port): LOOPBACK}), url))
    assert len(names) == 1  # the container was listed: one name per page
    with pytest.raises(ServiceRequestError) as caught:
        asyncio.run(_list_through(Pins({("other.invalid", azurite.port): LOOPBACK}), url))
    failure = transport_failure(caught.value, StorageEndpoint.from_url(url, "test"))
    assert failure is not None and failure.code is Code.TARGET_NOT_ALLOWED


def test_account_name_and_key_go_to_the_accounts_endpoint() -> None:
    params = CONNECTOR.model.model_validate(body(storage_account_name="wizardacct", storage_account_key=ACCOUNT_KEY))
    plan = CONNECTOR.plan(params)
    client = plan.build()
    try:
        assert client.url.startswith("https://wizardacct.blob.core.windows.net/")
        assert plan.field == "storage_account_key" and plan.account == "wizardacct"
    finally:
        asyncio.run(client.close())


def test_connection_string_parser() -> None:
    assert parse_connection_string("A=1;B=x=y;") == {"a": "1", "b": "x=y"}
    assert parse_connection_string("") is None
    assert parse_connection_string("A=1;junk") is None


def test_supported_types(client: httpx.Client) -> None:
    data = client.get("/api/v1/database_connections/supported_types/").json()
    assert "ADLSFSConnector" not in data["connectors"]
    props = data["write_connectors"]["ADLSFSConnector"]
    assert list(props) == ["hooks_params", "is_source", "storage_container_name", "storage_account_name",
                           "container_connection_string", "storage_account_key", "storage_connection_string",
                           "remote_path"]
    for secret in ("container_connection_string", "storage_account_key", "storage_connection_string"):
        assert props[secret]["type"] == ["password", "null"]
    assert props["storage_account_name"]["type"] == ["string", "null"]
    assert props["remote_path"]["default"] == "/"


def test_model_matches_the_spec() -> None:
    assert CONNECTOR.model.__name__ == "CreateADLSFSConnector"
    assert_matches_spec(CONNECTOR.model)

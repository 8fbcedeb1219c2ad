"""ADLS live capabilities against the suite's Azurite: a read-only SAS, a SAS without delete, and the account key."""

from __future__ import annotations

import datetime
import json
from typing import Any

import httpx

from tests.capabilities.conftest import ask, assert_reports_one_leftover_probe, item, statuses
from tests.servers.azurite import ACCOUNT, ACCOUNT_KEY, AzuriteServer

CONTAINER = "wizard-container"
NOT_SUPPORTED = dict.fromkeys(("IDENTITY_WRITING", "DATA_TRUNCATION", "INDEX_MANAGEMENT", "FOREIGN_KEY_MANAGEMENT",
                               "UNIQUE_CONSTRAINT_MANAGEMENT", "TRIGGER_MANAGEMENT", "SCHEMA_MANAGEMENT"), "not_supported")


def sas(**permissions: bool) -> str:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        ACCOUNT, CONTAINER, account_key=ACCOUNT_KEY, permission=ContainerSasPermissions(**permissions),
        expiry=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
    )


def with_key(server: AzuriteServer) -> dict[str, Any]:
    return {"connector_type": "ADLSFSConnector", "storage_container_name": CONTAINER, "remote_path": "/exports/",
            "storage_connection_string": server.connection_string()}


def with_sas(server: AzuriteServer, token: str) -> dict[str, Any]:
    return {"connector_type": "ADLSFSConnector", "storage_container_name": CONTAINER, "remote_path": "/exports/",
            "container_connection_string": f"BlobEndpoint={server.blob_endpoint};SharedAccessSignature={token}"}


def blobs(server: AzuriteServer) -> list[str]:
    from azure.storage.blob import ContainerClient

    with ContainerClient.from_connection_string(server.connection_string(), CONTAINER) as container:
        return sorted(b.name for b in container.list_blobs())


def test_account_key_may_do_everything(client: httpx.Client, azurite: AzuriteServer) -> None:
    before = blobs(azurite)
    answer = ask(client, with_key(azurite))
    assert blobs(azurite) == before
    assert answer["scope"] == f"container {CONTAINER}, prefix /exports/"
    assert statuses(answer) == {**NOT_SUPPORTED, "DATA_DELETION": "available", "HIGH_PERFORMANCE_WRITING": "available",
                                "IDEMPOTENT_WRITING": "available", "READ": "available", "WRITE": "available",
                                "CREATE": "available", "DELETE": "available"}


def test_read_only_sas_from_its_permissions_alone(client: httpx.Client, azurite: AzuriteServer) -> None:
    answer = ask(client, with_sas(azurite, sas(read=True, list=True)))
    assert statuses(answer) == {**NOT_SUPPORTED, "DATA_DELETION": "unavailable",
                                "HIGH_PERFORMANCE_WRITING": "unavailable", "IDEMPOTENT_WRITING": "unavailable",
                                "READ": "available", "WRITE": "unavailable", "CREATE": "unavailable",
                                "DELETE": "unavailable"}
    write = item(answer, "WRITE")
    assert "the SAS grants 'rl'" in write["reason"]
    assert write["fix"].startswith(f"az storage container generate-sas --account-name {ACCOUNT} --name {CONTAINER} "
                                   "--permissions racwl ")


def test_read_only_sas_probe_is_refused_and_writes_nothing(client: httpx.Client, azurite: AzuriteServer) -> None:
    before = blobs(azurite)
    answer = ask(client, with_sas(azurite, sas(read=True, list=True)), write_probe=True)
    assert blobs(azurite) == before
    assert item(answer, "WRITE")["status"] == "unavailable"
    assert "AuthorizationPermissionMismatch" in item(answer, "WRITE")["reason"] or \
        "AuthorizationFailure" in item(answer, "WRITE")["reason"]


def test_account_key_probe_puts_and_deletes(client: httpx.Client, azurite: AzuriteServer) -> None:
    before = blobs(azurite)
    answer = ask(client, with_key(azurite), write_probe=True)
    assert blobs(azurite) == before
    assert "and deleted it: nothing was kept" in answer["verdict"]["body"]
    assert "(confirmed by the write probe)" in item(answer, "WRITE")["reason"]


def test_sas_without_delete_leaves_a_reported_blob(client: httpx.Client, azurite: AzuriteServer) -> None:
    from azure.storage.blob import ContainerClient

    before = blobs(azurite)
    answer = ask(client, with_sas(azurite, sas(read=True, list=True, write=True, create=True)), write_probe=True)
    left = [b for b in blobs(azurite) if b not in before]
    try:
        assert_reports_one_leftover_probe(answer, left)
    finally:
        with ContainerClient.from_connection_string(azurite.connection_string(), CONTAINER) as container:
            for name in left:
                container.delete_blob(name)
    assert blobs(azurite) == before


def test_no_secret_in_the_answer(client: httpx.Client, azurite: AzuriteServer) -> None:
    token = sas(read=True, list=True)
    text = json.dumps(ask(client, with_sas(azurite, token), write_probe=True))
    assert ACCOUNT_KEY not in text and "sig=" not in text


def test_the_credential_says_its_own_permissions() -> None:
    """Read without any request: an account key (None: everything), a SAS in a connection string or a URL."""
    from backend.capabilities.adls import sas_permissions
    from backend.connectors.adls import CreateADLSFSConnector

    def params(**fields: Any) -> Any:
        return CreateADLSFSConnector.model_validate({"connector_type": "ADLSFSConnector", **fields})

    assert sas_permissions(params(storage_account_name="acct", storage_account_key=ACCOUNT_KEY,
                                  storage_container_name=CONTAINER)) is None
    token = sas(read=True, list=True, write=True)
    assert sas_permissions(params(storage_container_name=CONTAINER, container_connection_string=(
        f"BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature={token}"))) == "rwl"
    assert sas_permissions(params(container_connection_string=(
        f"https://acct.blob.core.windows.net/{CONTAINER}?{sas(read=True, delete=True)}"))) == "rd"

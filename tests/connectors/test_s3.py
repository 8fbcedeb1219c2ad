"""S3 against the suite's own moto server (IAM credential checking on): every code it can produce here."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.connectors._objectstore import Pins, StorageEndpoint, transport_failure
from backend.connectors.s3 import CONNECTOR, _create_client, _pin
from backend.diagnosis.messages import Code
from backend.main import create_app
from tests.conftest import DEADLINE_S, assert_matches_spec, failed_detail, make_settings, run_test, stage
from tests.helpers import assert_within
from tests.servers.common import LOOPBACK
from tests.servers.moto import S3World


@pytest.fixture
def s3(moto_s3: S3World, monkeypatch: pytest.MonkeyPatch) -> S3World:
    """The moto world, with boto3's standard variable pointing the wizard at it (and no other AWS settings)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.url)
    return moto_s3


def body(world: S3World, **overrides: Any) -> dict[str, Any]:
    return {
        "connector_type": "S3FSConnector",
        "bucket": world.bucket,
        "region": world.region,
        "aws_access_key_id": world.key.key_id,
        "aws_secret_access_key": world.key.secret,
        **overrides,
    }


def assert_no_secret(msg: dict[str, Any], world: S3World, caplog: pytest.LogCaptureFixture | None = None) -> None:
    text = json.dumps(msg)
    for secret in (world.key.secret, world.outsider.secret):
        assert secret not in text
        if caplog is not None:
            assert secret not in caplog.text


def test_success_at_the_root(client: httpx.Client, s3: S3World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    msg = run_test(client, body(s3))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["kind"] == "success"
    server = msg["payload"]["server"]
    assert server["endpoint"] == s3.url and server["endpoint_source"] == "AWS_ENDPOINT_URL_S3"
    assert server["bucket"] == s3.bucket and server["region"] == s3.region and server["objects_seen"] == 1
    assert [(s["name"], s["status"]) for s in msg["payload"]["stages"]] == [
        ("parameters", "passed"), ("dns", "passed"), ("tcp", "passed"), ("tls", "warning"),
        ("authentication", "passed"), ("bucket", "passed"), ("path", "passed"),
    ]
    assert s3.bucket in msg["body"] and s3.region in msg["body"] and s3.url in msg["body"]
    assert "NOT encrypted" in msg["body"]
    assert_no_secret(msg, s3, caplog)


@pytest.mark.parametrize("path", ["exports", "/exports/", "exports/data.csv"])
def test_success_under_a_path_with_objects(client: httpx.Client, s3: S3World, path: str) -> None:
    msg = run_test(client, body(s3, remote_path=path))
    assert msg["code"] == "CONNECTION_SUCCESSFUL" if path != "exports/data.csv" else "PATH_NOT_FOUND", msg


def test_empty_path_is_a_warning_not_an_error(client: httpx.Client, s3: S3World) -> None:
    msg = run_test(client, body(s3, remote_path="/not/yet/there"))
    assert msg["code"] == "PATH_NOT_FOUND"
    assert msg["kind"] == "warning"
    assert list(msg["details"]) == ["remote_path"]
    assert stage(msg, "bucket")["status"] == "passed"
    assert stage(msg, "path")["status"] == "warning"
    assert "not/yet/there/" in msg["body"] and "first" in msg["body"]


def test_wrong_access_key_id(client: httpx.Client, s3: S3World) -> None:
    msg = run_test(client, body(s3, aws_access_key_id="AKIAWRONGWRONGWRONG1"))
    assert msg["code"] == "AUTHENTICATION_FAILED", msg
    assert list(msg["details"]) == ["aws_access_key_id"]
    assert stage(msg, "authentication")["status"] == "failed"
    assert stage(msg, "bucket")["status"] == "skipped"
    assert "InvalidAccessKeyId" in failed_detail(msg)


def test_wrong_secret(client: httpx.Client, s3: S3World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong/secret+Key=="
    msg = run_test(client, body(s3, aws_secret_access_key=wrong))
    assert msg["code"] == "AUTHENTICATION_FAILED", msg
    assert list(msg["details"]) == ["aws_secret_access_key"]
    assert "SignatureDoesNotMatch" in failed_detail(msg)
    assert wrong not in json.dumps(msg) and wrong not in caplog.text
    assert_no_secret(msg, s3, caplog)


def test_missing_bucket(client: httpx.Client, s3: S3World) -> None:
    msg = run_test(client, body(s3, bucket="no-such-bucket"))
    assert msg["code"] == "BUCKET_NOT_FOUND", msg
    assert list(msg["details"]) == ["bucket"]
    assert stage(msg, "authentication")["status"] == "passed"
    assert stage(msg, "bucket")["status"] == "failed"


def test_valid_key_without_permission(client: httpx.Client, s3: S3World) -> None:
    msg = run_test(client, body(s3, aws_access_key_id=s3.outsider.key_id, aws_secret_access_key=s3.outsider.secret))
    assert msg["code"] == "PERMISSION_DENIED", msg
    assert list(msg["details"]) == ["aws_access_key_id"]
    assert_no_secret(msg, s3)


def test_missing_credentials_never_fall_back_on_the_machines_own(
    client: httpx.Client, s3: S3World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Valid keys in the wizard's own environment must not be used for a request without keys.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key.key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.key.secret)
    msg = run_test(client, body(s3, aws_access_key_id=None, aws_secret_access_key=None))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert sorted(msg["details"]) == ["aws_access_key_id", "aws_secret_access_key"]
    msg = run_test(client, body(s3, aws_secret_access_key=""))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["aws_secret_access_key"]


def test_destination_only(client: httpx.Client, s3: S3World) -> None:
    msg = run_test(client, body(s3, is_source=True))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["is_source"]
    assert run_test(client, body(s3, is_source=False))["code"] == "CONNECTION_SUCCESSFUL"


@pytest.mark.parametrize("bucket", ["bad bucket!", "x" * 300])
def test_invalid_bucket_name(client: httpx.Client, s3: S3World, bucket: str) -> None:
    msg = run_test(client, body(s3, bucket=bucket))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == ["bucket"]
    assert stage(msg, "dns")["status"] == "skipped"


def test_invalid_region_name(client: httpx.Client, s3: S3World) -> None:
    msg = run_test(client, body(s3, region="not a region"))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == ["region"]


def test_required_fields_are_checked_by_the_schema(client: httpx.Client, s3: S3World) -> None:
    response = client.post("/api/v1/database_connections/test/", json=body(s3, region=""))
    assert response.status_code == 422
    assert any("region" in key for key in response.json()["details"])


def test_closed_port(client: httpx.Client, s3: S3World, closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{LOOPBACK}:{closed_port}")
    started = time.monotonic()
    msg = run_test(client, body(s3))
    assert msg["code"] == "PORT_CLOSED", msg
    assert msg["payload"]["elapsed_ms"] < (DEADLINE_S - 1) * 1000, "at once, well before the deadline"
    assert_within(started, DEADLINE_S - 1)
    assert stage(msg, "tcp")["status"] == "failed"
    # The endpoint is the wizard's own setting, not a field of the request.
    assert msg["details"] is None and msg["display"] == "notification"
    assert "AWS_ENDPOINT_URL_S3" in msg["body"]


def test_unresolvable_endpoint(client: httpx.Client, s3: S3World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "https://s3.storage.invalid")
    msg = run_test(client, body(s3))
    assert msg["code"] == "HOST_NOT_FOUND", msg
    assert stage(msg, "dns")["status"] == "failed"
    assert stage(msg, "tcp")["status"] == "skipped"
    assert msg["details"] is None and "AWS_ENDPOINT_URL_S3" in msg["body"]


def test_generic_endpoint_variable_is_honoured(client: httpx.Client, s3: S3World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.url)
    msg = run_test(client, body(s3))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["endpoint_source"] == "AWS_ENDPOINT_URL"


def test_endpoint_variable_that_is_no_url(client: httpx.Client, s3: S3World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "ftp://files.invalid")
    msg = run_test(client, body(s3))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert msg["details"] is None and "AWS_ENDPOINT_URL_S3" in msg["body"]


def test_target_policy_applies_to_the_endpoint(s3: S3World) -> None:
    with TestClient(create_app(make_settings(blocked_targets=f"{LOOPBACK}/32"))) as blocked:
        msg = run_test(blocked, body(s3))
    assert msg["code"] == "TARGET_NOT_ALLOWED", msg
    assert stage(msg, "dns")["status"] == "failed"


def test_client_is_pinned_to_the_checked_address(s3: S3World) -> None:
    """botocore connects to the checked address without resolving the name again, and to no other host."""
    from botocore.config import Config
    from botocore.exceptions import EndpointConnectionError

    port = s3.server.port

    def new_client() -> Any:
        return _create_client(
            region_name=s3.region, endpoint_url=f"http://s3.pinned.invalid:{port}",
            aws_access_key_id=s3.key.key_id, aws_secret_access_key=s3.key.secret,
            config=Config(retries={"total_max_attempts": 1}, proxies={"http": "", "https": ""}),
        )

    # A name that cannot resolve works: the connection goes to the pinned address.
    client = new_client()
    try:
        _pin(client, Pins({("s3.pinned.invalid", port): LOOPBACK}))
        assert client.list_objects_v2(Bucket=s3.bucket, MaxKeys=1)["KeyCount"] == 1
    finally:
        client.close()
    # A host that was not checked is refused before any connection.
    client = new_client()
    try:
        _pin(client, Pins({("other.invalid", port): LOOPBACK}))
        with pytest.raises(EndpointConnectionError) as caught:
            client.list_objects_v2(Bucket=s3.bucket, MaxKeys=1)
    finally:
        client.close()
    failure = transport_failure(caught.value, StorageEndpoint.from_url(f"http://s3.pinned.invalid:{port}", "test"))
    assert failure is not None and failure.code is Code.TARGET_NOT_ALLOWED


def test_supported_types(client: httpx.Client) -> None:
    data = client.get("/api/v1/database_connections/supported_types/").json()
    assert "S3FSConnector" not in data["connectors"]
    props = data["write_connectors"]["S3FSConnector"]
    assert list(props) == ["hooks_params", "is_source", "bucket", "region", "remote_path",
                           "aws_access_key_id", "aws_secret_access_key"]
    assert props["aws_secret_access_key"]["type"] == ["password", "null"]
    assert props["aws_access_key_id"]["type"] == ["string", "null"]
    assert props["bucket"]["type"] == "string" and props["region"]["type"] == "string"
    assert props["remote_path"]["default"] == "/"
    assert props["hooks_params"]["values"] == []


def test_model_matches_the_spec() -> None:
    assert CONNECTOR.model.__name__ == "CreateS3FSConnector"
    assert_matches_spec(CONNECTOR.model)

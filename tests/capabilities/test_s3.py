"""S3 live capabilities against a moto server of this module's own, IAM policies enforced:
a read-only key and a read-write key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.capabilities.conftest import ask, assert_reports_one_leftover_probe, item, statuses
from tests.servers.moto import REGION, AccessKey, MotoServer

BUCKET = "cap-bucket"
READ_ONLY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}]})
NO_DELETE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject", "s3:PutObject"], "Resource": "*"}]})
READ_WRITE = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[MotoServer, dict[str, AccessKey]]]:
    server = MotoServer().start()
    try:
        iam = server.client("iam")
        keys = {}
        for name, document in (("reader", READ_ONLY), ("writer", READ_WRITE), ("nodelete", NO_DELETE)):
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=document)
            created = iam.create_access_key(UserName=name)["AccessKey"]
            keys[name] = AccessKey(created["AccessKeyId"], created["SecretAccessKey"])
        s3 = server.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=BUCKET, Key="exports/data.csv", Body=b"id\n1\n")
        server.enforce_auth()
        yield server, keys
    finally:
        server.stop()


@pytest.fixture
def world(moto: tuple[MotoServer, dict[str, AccessKey]], monkeypatch: pytest.MonkeyPatch) -> tuple[MotoServer, dict[str, AccessKey]]:
    for name in ("AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto[0].url)
    return moto


def body(key: AccessKey, remote_path: str = "/exports/") -> dict[str, Any]:
    return {"connector_type": "S3FSConnector", "bucket": BUCKET, "region": REGION, "remote_path": remote_path,
            "aws_access_key_id": key.key_id, "aws_secret_access_key": key.secret}


def admin(world: Any) -> Any:
    """An S3 client with the key allowed everything (moto checks it like any other)."""
    import boto3

    server, keys = world
    return boto3.client("s3", endpoint_url=server.url, region_name=REGION, aws_access_key_id=keys["writer"].key_id,
                        aws_secret_access_key=keys["writer"].secret)


def objects(world: Any) -> list[str]:
    """Every key of the bucket."""
    return sorted(o["Key"] for o in admin(world).list_objects_v2(Bucket=BUCKET).get("Contents", []))


def expected(read: str, write: str, delete: str) -> dict[str, str]:
    return {
        **dict.fromkeys(("IDENTITY_WRITING", "DATA_TRUNCATION", "INDEX_MANAGEMENT", "FOREIGN_KEY_MANAGEMENT",
                         "UNIQUE_CONSTRAINT_MANAGEMENT", "TRIGGER_MANAGEMENT", "SCHEMA_MANAGEMENT"), "not_supported"),
        "DATA_DELETION": delete,
        "HIGH_PERFORMANCE_WRITING": write,
        "IDEMPOTENT_WRITING": "available" if write == delete == "available" else
        ("unavailable" if "unavailable" in (write, delete) else "unknown"),
        "READ": read, "WRITE": write, "CREATE": write, "DELETE": delete,
    }


def test_without_the_probe_writing_is_unknown(client: httpx.Client, world: Any) -> None:
    _, keys = world
    before = objects(world)
    answer = ask(client, body(keys["writer"]))
    assert objects(world) == before
    assert answer["scope"] == f"bucket {BUCKET}, prefix /exports/"
    assert statuses(answer) == expected("available", "unknown", "unknown")
    assert "write_probe" in item(answer, "WRITE")["reason"]


def test_read_write_key_with_the_probe(client: httpx.Client, world: Any) -> None:
    _, keys = world
    before = objects(world)
    answer = ask(client, body(keys["writer"]), write_probe=True)
    assert objects(world) == before
    assert statuses(answer) == expected("available", "available", "available")
    assert "and deleted it: nothing was kept" in answer["verdict"]["body"]
    assert answer["verdict"]["kind"] == "success"


def test_read_only_key_with_the_probe(client: httpx.Client, world: Any) -> None:
    _, keys = world
    before = objects(world)
    answer = ask(client, body(keys["reader"]), write_probe=True)
    assert objects(world) == before
    assert statuses(answer) == expected("available", "unavailable", "unknown")
    write = item(answer, "WRITE")
    assert "AccessDenied" in write["reason"]
    assert json.loads(write["fix"])["Statement"][0] == {
        "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": f"arn:aws:s3:::{BUCKET}/exports/*"}


def test_a_key_that_may_not_delete_leaves_a_reported_object(client: httpx.Client, world: Any) -> None:
    _, keys = world
    before = objects(world)
    answer = ask(client, body(keys["nodelete"]), write_probe=True)
    left = [k for k in objects(world) if k not in before]
    try:
        assert_reports_one_leftover_probe(answer, left)
        assert item(answer, "DATA_DELETION")["status"] == "unavailable"
    finally:
        for key in left:
            admin(world).delete_object(Bucket=BUCKET, Key=key)
    assert objects(world) == before


def test_no_secret_in_the_answer(client: httpx.Client, world: Any) -> None:
    _, keys = world
    answer = ask(client, body(keys["reader"]), write_probe=True)
    assert keys["reader"].secret not in json.dumps(answer)

"""Amazon S3: what this access key may do in the bucket under ``remote_path``.

S3 has no privilege catalog a key may read about itself: its permissions are IAM policies
(user, group, bucket policy, SCPs), and reading them takes IAM permissions that an upload key
rarely has (``iam:GetUserPolicy``, ``iam:SimulatePrincipalPolicy``:
https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_testing-policies.html). So
without ``write_probe`` the answer says only what reading showed (the test's ListObjectsV2 and,
if an object is there, a HeadObject on it) and leaves writing and deleting ``unknown``.

Actions, per https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html:
``s3:ListBucket`` lists, ``s3:GetObject`` reads (HeadObject too), ``s3:PutObject`` writes (multipart
uploads included: https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions),
``s3:DeleteObject`` deletes. A refusal is the ``AccessDenied`` error code
(https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList). The fixes are
IAM policy documents to attach to the key's user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from backend.capabilities import objectstore
from backend.capabilities.facts import Finding, Findings
from backend.capabilities.objectstore import Fixes, Refused, StoreOps
from backend.capabilities.schemas import CapabilityOptions
from backend.connectors._objectstore import prefix_of
from backend.connectors.s3 import CreateS3FSConnector
from backend.core import RunContext
from backend.diagnosis.stages import Deadline, run_blocking

T = TypeVar("T")
_REFUSALS = {"AccessDenied", "AllAccessDisabled", "403"}


def policy(bucket: str, prefix: str, *actions: str) -> str:
    """An IAM policy document allowing ``actions`` on the objects under ``prefix`` (pasteable as it is)."""
    resource = f"arn:aws:s3:::{bucket}/{prefix}*"
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": list(actions), "Resource": resource}]}
    return json.dumps(document)


def fixes(bucket: str, prefix: str) -> Fixes:
    return Fixes(
        read=policy(bucket, prefix, "s3:GetObject"),
        write=policy(bucket, prefix, "s3:PutObject"),
        delete=policy(bucket, prefix, "s3:DeleteObject"),
    )


async def examine(client: Any, params: CreateS3FSConnector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    prefix = prefix_of(params.remote_path)
    where = f"s3://{params.bucket}/{prefix}"
    findings = Findings(scope=f"bucket {params.bucket}, prefix /{prefix}")
    if options.schema_name:
        findings.notes.append("S3 has no schemas: `schema` was not used.")
    store = _ops(client, params.bucket, ctx)
    found = fixes(params.bucket, prefix)
    findings.access["READ"] = await _read_access(client, params.bucket, prefix, where, found, ctx)
    unknown = Finding.unknown(
        "S3 does not let a key read its own IAM policies, so this cannot be told without writing: "
        "ask again with write_probe to try it with a throwaway object."
    )
    findings.access.update({"WRITE": unknown, "CREATE": unknown, "DELETE": unknown})
    if options.write_probe:
        await objectstore.write_probe(store, prefix, where, findings, found, ctx.deadline)
    objectstore.deletion_follows_access(findings)
    return findings


async def _read_access(client: Any, bucket: str, prefix: str, where: str, found: Fixes, ctx: RunContext) -> Finding:
    """The test listed the bucket; reading one object (HeadObject) tells s3:GetObject, writing nothing."""
    listing = await _call(lambda: client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1), ctx)
    keys = [o["Key"] for o in listing.get("Contents", [])]
    if not keys:
        return Finding.available(f"You may list {where} (it holds no object yet to try reading).")
    try:
        await _call(lambda: client.head_object(Bucket=bucket, Key=keys[0]), ctx)
    except Refused as refused:
        return Finding.unavailable(f"You may list {where} but not read its objects ({refused.code} on {keys[0]}).",
                                   found.read)
    return Finding.available(f"You may list and read objects under {where}.")


def _ops(client: Any, bucket: str, ctx: RunContext) -> StoreOps:
    async def put(key: str) -> None:
        await _call(lambda: client.put_object(Bucket=bucket, Key=key, Body=b""), ctx)

    async def exists(key: str) -> bool:
        result = await _call(lambda: client.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1), ctx, grace=True)
        return any(o["Key"] == key for o in result.get("Contents", []))

    async def read(key: str) -> None:
        await _call(lambda: client.get_object(Bucket=bucket, Key=key)["Body"].read(), ctx)

    async def delete(key: str) -> None:
        await _call(lambda: client.delete_object(Bucket=bucket, Key=key), ctx, grace=True)

    return StoreOps(put, exists, read, delete)


async def _call(fn: Callable[[], T], ctx: RunContext, grace: bool = False) -> T:
    """One botocore call in its own thread, bounded by the deadline (``grace``: plus the probe's clean-up
    grace, for removing what it put); an AccessDenied is :class:`Refused`."""
    from botocore.exceptions import ClientError

    deadline = Deadline(ctx.deadline.remaining() + objectstore.DELETE_GRACE_S) if grace else ctx.deadline
    try:
        return await run_blocking(fn, deadline, "S3")
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _REFUSALS:
            raise Refused("AccessDenied" if code == "403" else code) from None
        raise

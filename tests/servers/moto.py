"""An S3 server of the suite's own: moto in server mode, with IAM credential checking switched on.

By default moto accepts any access key. Its ``INITIAL_NO_AUTH_ACTION_COUNT`` setting makes it
check signatures and IAM policies after that many requests; ``POST /moto-api/reset-auth``
with a number sets it on a running server (moto/moto_api/_internal/responses.py,
``reset_auth_response``; docs: https://docs.getmoto.org/en/latest/docs/iam.html). The suite
sets the world up unauthenticated (IAM users, their keys, buckets, objects), then sets the
count to 0: from then on an unknown key id is ``InvalidAccessKeyId``, a wrong secret
``SignatureDoesNotMatch`` and a user without a policy ``AccessDenied``, as on AWS.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tests.servers.common import ServerProcess, free_port, make_workdir

REGION = "eu-west-1"
# Used only while moto still accepts any credentials (the set-up phase).
_SETUP_KEY = ("AKIASETUPSETUPSETUP0", "setup-secret")

_ALLOW_ALL_S3 = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
)


@dataclass
class AccessKey:
    key_id: str
    secret: str = field(repr=False)


@dataclass
class MotoServer(ServerProcess):
    """Start with :meth:`start`, create things with :meth:`client`, then :meth:`enforce_auth`."""


    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoServer:
        self.port = self.port or free_port()
        self.workdir = make_workdir("moto")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        # botocore sends path-style requests to a custom endpoint; let moto read them so whatever
        # the Host header says (a pinned test name included), not as virtual-hosted buckets.
        env["S3_IGNORE_SUBDOMAIN_BUCKETNAME"] = "true"
        self.spawn([sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
                   cwd=self.workdir, env=env)
        return self

    def client(self, service: str, key: AccessKey | None = None) -> Any:
        import boto3

        key_id, secret = (key.key_id, key.secret) if key else _SETUP_KEY
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def iam_user(self, name: str, *, allow_s3: bool) -> AccessKey:
        """An IAM user with an access key; with ``allow_s3`` a policy allowing every S3 action."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        if allow_s3:
            iam.put_user_policy(UserName=name, PolicyName="s3-all", PolicyDocument=_ALLOW_ALL_S3)
        created = iam.create_access_key(UserName=name)["AccessKey"]
        return AccessKey(created["AccessKeyId"], created["SecretAccessKey"])

    def enforce_auth(self) -> None:
        """From now on every request must be signed by an IAM user's key and allowed by its policies."""
        # A form content type would make the server parse the body away: send it as plain text.
        request = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


@dataclass
class S3World:
    """What the suite's moto server holds once auth is enforced."""

    server: MotoServer
    bucket: str
    key: AccessKey
    """Allowed every S3 action."""
    outsider: AccessKey
    """A valid key of a user without any policy: every S3 request is AccessDenied."""
    region: str = REGION

    @property
    def url(self) -> str:
        return self.server.url


def start_world(bucket: str = "wizard-bucket", objects: dict[str, bytes] | None = None) -> S3World:
    """A moto server with two IAM users, a bucket and objects; credential checking on."""
    server = MotoServer().start()
    try:
        key = server.iam_user("wizard", allow_s3=True)
        outsider = server.iam_user("outsider", allow_s3=False)
        s3 = server.client("s3")
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        for name, content in (objects or {"exports/data.csv": b"id\n1\n"}).items():
            s3.put_object(Bucket=bucket, Key=name, Body=content)
        server.enforce_auth()
    except BaseException:
        server.stop()
        raise
    return S3World(server, bucket, key, outsider)

"""Amazon S3 (and S3-compatible servers), a destination only: boto3/botocore.

The test lists the bucket under ``remote_path`` (``ListObjectsV2``, one key at most) with the
request's own keys, never the credentials of the machine the wizard runs on. The endpoint is
AWS's, or the one set by boto3's standard ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``
environment variables (https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html),
so S3-compatible servers work; its host goes through the dns/tcp stages and the target policy
and botocore is pinned to the address that was checked.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Annotated, Any, Literal

from pydantic import Field

from backend.connectors._objectstore import (
    NotChecked,
    Pins,
    StorageEndpoint,
    check_destination_only,
    describe_link,
    first_stage,
    hook_notes,
    is_printable_ascii,
    listing_step,
    path_message,
    prefix_of,
    probe,
    safe_first_line,
    transport_failure,
)
from backend.connectors.base import Connector, ConnectorModel, classified, functionality
from backend.core import RunContext
from backend.core.rules import ErrorFacts, ErrorRule, match, stage_of
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure, run_blocking
from backend.spec.fields import SECRET
from backend.spec.formfacts import FieldFacts, URIFacts
from backend.spec.schemas import ApplicationMessage

ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


class CreateS3FSConnector(ConnectorModel):
    connector_type: Literal["S3FSConnector"] = Field(title="Connector Type")
    bucket: str = Field(min_length=1, title="Bucket")
    region: str = Field(min_length=1, title="Region")
    remote_path: str | None = Field(default="/", title="Remote Path")
    aws_access_key_id: str | None = Field(default=None, title="Aws Access Key Id")
    aws_secret_access_key: Annotated[str | None, SECRET] = Field(
        default=None, title="Aws Secret Access Key", repr=False
    )


# S3 error codes: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#ErrorCodeList
# (code → verdict, stage, fields to blame).
_KEY_ID = "aws_access_key_id"
_SECRET = "aws_secret_access_key"
_DENIED = {_KEY_ID: "The key is valid but may not list this bucket (s3:ListBucket)."}
_NO_BUCKET = {"bucket": "No bucket of this name."}
_OTHER_REGION = {"region": "The bucket is in another region."}
_RULES: tuple[ErrorRule, ...] = (  # by S3's error code, then by the HTTP status of an answer without one
    ErrorRule(Code.AUTHENTICATION_FAILED, {_KEY_ID: "S3 does not know this access key id."}, number="InvalidAccessKeyId"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {_SECRET: "This secret access key does not belong to the access key id."},
              number="SignatureDoesNotMatch"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {_KEY_ID: "S3 refused this key."}, number="InvalidToken"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {_KEY_ID: "These credentials have expired."}, number="ExpiredToken"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {_SECRET: "S3 refused these credentials."}, number="InvalidSecurity"),
    ErrorRule(Code.AUTHENTICATION_FAILED, {_KEY_ID: "The account of this key is not signed up for S3."}, number="NotSignedUp"),
    ErrorRule(Code.PERMISSION_DENIED, _DENIED, number="AccessDenied", stage="bucket"),
    ErrorRule(Code.PERMISSION_DENIED, {"bucket": "All access to this bucket is disabled."}, number="AllAccessDisabled",
              stage="bucket"),
    ErrorRule(Code.PERMISSION_DENIED, {_KEY_ID: "The AWS account of this key is blocked."}, number="AccountProblem",
              stage="bucket"),
    ErrorRule(Code.BUCKET_NOT_FOUND, _NO_BUCKET, number="NoSuchBucket", stage="bucket"),
    ErrorRule(Code.INVALID_PARAMETERS, {"bucket": "This is not a valid bucket name."}, number="InvalidBucketName",
              stage="bucket"),
    # A bucket asked for in the wrong region: a 301 redirect, or a signature for the wrong region.
    ErrorRule(Code.INVALID_PARAMETERS, _OTHER_REGION, number="PermanentRedirect", stage="bucket"),
    ErrorRule(Code.INVALID_PARAMETERS, _OTHER_REGION, number="301", stage="bucket"),
    ErrorRule(Code.INVALID_PARAMETERS, _OTHER_REGION, number="AuthorizationHeaderMalformed", stage="bucket"),
    ErrorRule(Code.INVALID_PARAMETERS, {"region": "This region cannot be used for this bucket."},
              number="IllegalLocationConstraintException", stage="bucket"),
    ErrorRule(Code.UNEXPECTED_ERROR, number="RequestTimeTooSkewed", stage="authentication"),
    ErrorRule(Code.PERMISSION_DENIED, _DENIED, number=403, stage="bucket"),
    ErrorRule(Code.BUCKET_NOT_FOUND, _NO_BUCKET, number=404, stage="bucket"),
)


class _Planned(Exception):
    """Raised before sending: carries the URL botocore would use."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


_session_lock = threading.Lock()
_session: Any = None


def _create_client(**kwargs: Any) -> Any:
    """A botocore S3 client from one shared session (creating clients is not thread-safe; using them is)."""
    global _session
    import botocore.session

    with _session_lock:
        if _session is None:
            _session = botocore.session.Session()
        return _session.create_client("s3", **kwargs)


def configured_endpoint() -> tuple[str, str] | None:
    """(variable, URL) of the S3 endpoint set in the environment, as boto3 reads it, or None for AWS."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() == "true":
        return None
    for variable in ENDPOINT_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def _no_region_redirect(params: CreateS3FSConnector, context: dict[str, Any], **_: Any) -> None:
    """Switch off botocore's S3 region redirector for this request.

    botocore silently re-sends a request answered "wrong region" to the bucket's real region
    (``S3RegionRedirectorv2``, which skips requests already marked ``redirected``): the wizard
    wants to tell the user the region is wrong, and to connect to no host it did not check.
    """
    context.setdefault("s3_redirect", {})["redirected"] = True


def _pinned_pools(pins: Pins) -> dict[str, type]:
    """urllib3 pool classes whose connections go only to the checked address (the host stays for TLS)."""
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util.connection import create_connection

    def new_conn(conn: Any) -> socket.socket:
        address = pins.address_for(conn.host, conn.port)
        if address is None:
            why = f"{conn.host}:{conn.port} was not checked by the wizard's target policy"
            raise NewConnectionError(conn, why) from NotChecked(why)
        try:
            return create_connection(
                (address, conn.port), conn.timeout, source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"Failed to establish a new connection: {exc}") from exc

    class PinnedHTTPConnection(AWSHTTPConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class PinnedHTTPSConnection(AWSHTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class PinnedHTTPPool(AWSHTTPConnectionPool):
        ConnectionCls = PinnedHTTPConnection

    class PinnedHTTPSPool(AWSHTTPSConnectionPool):
        ConnectionCls = PinnedHTTPSConnection

    return {"http": PinnedHTTPPool, "https": PinnedHTTPSPool}


def _pin(client: Any, pins: Pins) -> None:
    # botocore exposes no way to choose the address it connects to: its URLLib3Session keeps a
    # urllib3 PoolManager whose ``pool_classes_by_scheme`` it sets itself (botocore/httpsession.py).
    # If that ever changes, refuse to run rather than connect unpinned.
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    manager = getattr(session, "_manager", None)
    if session is None or manager is None or not isinstance(getattr(manager, "pool_classes_by_scheme", None), dict):
        raise RuntimeError("this botocore version cannot be pinned to the checked address")
    pools = _pinned_pools(pins)
    manager.pool_classes_by_scheme = pools
    session._pool_classes_by_scheme = pools


def _planned_url(client: Any, bucket: str, prefix: str) -> str:
    """The URL botocore will send the listing to, found without touching the network."""

    def plan(request: Any, **_: Any) -> None:
        raise _Planned(request.url)

    client.meta.events.register_first("before-send.s3", plan, unique_id="wizard-plan")
    try:
        client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except _Planned as planned:
        return planned.url
    finally:
        client.meta.events.unregister("before-send.s3", unique_id="wizard-plan")
    raise RuntimeError("botocore did not prepare a request")


class S3(Connector[CreateS3FSConnector]):
    type_name = "S3FSConnector"
    label = "Amazon S3"
    position = 9
    model = CreateS3FSConnector
    example = {"connector_type": "S3FSConnector",
               "bucket": "exports", "region": "eu-west-1", "remote_path": "/exports/", "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
    source = False
    # Form facts (GET …/forms/, backend.spec.uri): s3://bucket/folder/?region=eu-west-1.
    category = "storage"
    target_fields = ("bucket", "region")
    form_fields = {
        "bucket": FieldFacts("Bucket", "The bucket's name only, without s3:// in front.", "my-bucket"),
        "region": FieldFacts("Region", "The bucket's AWS region: it picks the endpoint and signs the requests.",
                             "eu-west-1"),
        "remote_path": FieldFacts(help="The folder inside the bucket; / for the top. The test lists what is "
                                       "stored under it."),
        "aws_access_key_id": FieldFacts("Access key ID", "Required: the access key ID of an IAM user that may list "
                                                         "the bucket (s3:ListBucket). The wizard never uses its own "
                                                         "machine's credentials.", "AKIAIOSFODNN7EXAMPLE"),
        "aws_secret_access_key": FieldFacts("Secret access key", "Required: the secret that goes with the access "
                                                                 "key ID. It is never shown again."),
    }
    uri = URIFacts(schemes=("s3", "s3a"), example="s3://my-bucket/exports/?region=eu-west-1",
                   parts={"host": "bucket", "folder": "remote_path", "user": "aws_access_key_id",
                          "password": "aws_secret_access_key"})
    hooks = frozenset()
    hook_notes = hook_notes("S3")
    stage_names = ("parameters", "dns", "tcp", "tls", "authentication", "bucket", "path")

    async def diagnose(self, params: CreateS3FSConnector, ctx: RunContext) -> ApplicationMessage:
        d = ctx.diagnosis
        prefix = prefix_of(params.remote_path)
        configured = configured_endpoint()

        async def parameters() -> tuple[Any, str]:
            self.check_parameters(params, configured)
            client = await run_blocking(
                lambda: self.client(params, configured, ctx), ctx.deadline, "the S3 client", stage="parameters",
                cleanup=lambda c: c.close(),
            )
            ctx.stack.callback(client.close)
            url = await run_blocking(lambda: _planned_url(client, params.bucket, prefix), ctx.deadline,
                                     "the S3 client", stage="parameters")
            return client, url

        client, url = await d.step("parameters", self._translated(parameters, params, None))
        if configured:
            endpoint = StorageEndpoint.from_url(url, f"set by the wizard's {configured[0]} environment variable")
        else:
            endpoint = StorageEndpoint.from_url(url, f"the AWS endpoint of region '{params.region}'", host_field="region")
        d.payload["server"] = {
            "product": "S3-compatible server" if configured else "Amazon S3",
            "endpoint": endpoint.display,
            "endpoint_source": configured[0] if configured else "AWS",
            "bucket": params.bucket,
            "region": params.region,
            "prefix": prefix or "/",
        }
        pins = await probe(endpoint, ctx)
        _pin(client, pins)
        first = first_stage(endpoint)

        async def listing() -> dict[str, Any]:
            result: dict[str, Any] = await run_blocking(
                lambda: client.list_objects_v2(Bucket=params.bucket, Prefix=prefix, MaxKeys=1),
                ctx.deadline, endpoint.display, stage=first,
            )
            return result

        result = await listing_step(ctx, endpoint, self._translated(listing, params, endpoint), "bucket")
        seen = int(result.get("KeyCount", len(result.get("Contents", []))))
        d.payload["server"]["objects_seen"] = seen
        if ctx.on_connected is not None:  # live capabilities: with this same pinned client
            await ctx.on_connected(client, ctx)

        where = f"'{prefix}' in bucket '{params.bucket}'" if prefix else f"bucket '{params.bucket}'"
        region = (f"signed for region '{params.region}'" if configured
                  else f"in region '{params.region}'")
        if seen:
            found = f"Objects are stored under '{prefix}'." if prefix else "The bucket holds objects."
        else:
            found = "The bucket is empty."
        body = (
            f"Listed bucket '{params.bucket}' ({region}) at {endpoint.display}, {endpoint.origin}, "
            f"with the given key. {found + ' ' if seen or not prefix else ''}{describe_link(endpoint)}"
        )
        return path_message(
            ctx, found=bool(seen) or not prefix, where=where, found_detail=found,
            success_title=f"Connected to bucket '{params.bucket}'", success_body=body,
        )

    # --- parameters -------------------------------------------------------------------------

    def check_parameters(self, params: CreateS3FSConnector, configured: tuple[str, str] | None) -> None:
        self.check_hooks(params)
        check_destination_only(params, self.label)
        missing = {
            name: "Give the access key id and the secret access key of an IAM user that may use the bucket."
            for name in (_KEY_ID, _SECRET)
            if not getattr(params, name)
        }
        if missing:
            # Never fall back on the wizard machine's own credentials (environment, ~/.aws, instance role).
            raise Failure(Code.INVALID_PARAMETERS, "The S3 test needs an access key id and its secret access key.",
                          fields=missing, stage="parameters")
        bad = {
            name: "Keys are printable ASCII without spaces: check for a stray character from copying."
            for name in (_KEY_ID, _SECRET)
            if not is_printable_ascii(getattr(params, name))
        }
        if bad:
            raise Failure(Code.INVALID_PARAMETERS, "An S3 key contains a character keys never have.",
                          fields=bad, stage="parameters")
        if configured:
            variable, url = configured
            scheme = url.partition("://")[0].lower()
            if scheme not in ("http", "https") or not StorageEndpoint.from_url(url, variable).host:
                misread = f"The wizard's {variable} environment variable is not an http(s) URL; ask the administrator."
                # No field of the request is to blame: the body says what is wrong, not "the fields named".
                raise Failure(Code.INVALID_PARAMETERS, misread, stage="parameters", body=misread)

    def client(self, params: CreateS3FSConnector, configured: tuple[str, str] | None, ctx: RunContext) -> Any:
        from botocore.config import Config

        remaining = max(0.05, ctx.deadline.remaining())
        config = Config(
            connect_timeout=remaining,
            read_timeout=remaining,
            retries={"total_max_attempts": 1},
            # Connect directly: the address the tcp stage checked is the one the client uses.
            proxies={"http": "", "https": ""},
            # The endpoint is chosen here (from the environment, as boto3 does) and nowhere else.
            ignore_configured_endpoint_urls=True,
            user_agent_extra="connection-wizard",
        )
        client = _create_client(
            region_name=params.region,
            endpoint_url=configured[1] if configured else None,
            # The request's keys, explicitly: botocore then never looks at the default credential chain.
            aws_access_key_id=params.aws_access_key_id,
            aws_secret_access_key=params.aws_secret_access_key,
            aws_session_token=None,
            config=config,
        )
        client.meta.events.register("before-call.s3", _no_region_redirect, unique_id="wizard-no-redirect")
        return client

    # --- errors -----------------------------------------------------------------------------

    def _translated(self, fn: Any, params: CreateS3FSConnector, endpoint: StorageEndpoint | None) -> Any:
        return classified(fn, lambda exc: self.classify(exc, params, endpoint))

    def classify(self, exc: BaseException, params: CreateS3FSConnector, endpoint: StorageEndpoint | None) -> Failure:
        from botocore.exceptions import (
            ClientError,
            ConnectTimeoutError,
            InvalidRegionError,
            ParamValidationError,
            ReadTimeoutError,
        )
        from botocore.parsers import ResponseParserError

        if isinstance(exc, InvalidRegionError):
            return Failure(Code.INVALID_PARAMETERS, f"'{params.region}' is not a region name.",
                           fields={"region": "A region looks like 'eu-west-1'."}, stage="parameters")
        if isinstance(exc, ParamValidationError):
            # botocore checks the bucket name (letters, digits, '.', '-', '_', at most 255) or an ARN.
            return Failure(Code.INVALID_PARAMETERS, f"'{params.bucket}' is not a valid bucket name.",
                           fields={"bucket": "Bucket names use lower-case letters, digits, '.' and '-'."},
                           stage="parameters")
        if endpoint is None:
            return Failure(Code.UNEXPECTED_ERROR, f"The S3 client could not be set up ({type(exc).__name__}).",
                           stage="parameters")
        first = first_stage(endpoint)
        if isinstance(exc, ClientError):
            return self._client_error(exc, params, endpoint)
        if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
            return Failure(Code.CONNECTION_TIMEOUT, f"{endpoint.display} did not answer in time.", stage=first)
        found = transport_failure(exc, endpoint)
        if found is not None:
            return found
        if isinstance(exc, ResponseParserError):
            return Failure(Code.UNEXPECTED_ERROR, f"{endpoint.display} does not answer like an S3 server.",
                           stage=first)
        return Failure(Code.UNEXPECTED_ERROR, f"The request to {endpoint.display} failed ({type(exc).__name__}).",
                       stage=first)

    def _client_error(self, exc: Any, params: CreateS3FSConnector, endpoint: StorageEndpoint) -> Failure:
        response = exc.response or {}
        error = response.get("Error", {}) or {}
        code = str(error.get("Code") or "")
        metadata = response.get("ResponseMetadata", {}) or {}
        status = metadata.get("HTTPStatusCode")
        # Only the first line of S3's message: the error document's other elements (StringToSign,
        # SignatureProvided, CanonicalRequest) are never copied into the verdict.
        message = safe_first_line(str(error.get("Message") or "")).rstrip(".")
        said = f"S3 answered {code or status}" + (f": {message}" if message else "") + "."
        rule = match(ErrorFacts(said, numbers=(code, *([status] if isinstance(status, int) else []))), _RULES)
        if rule is None:
            return Failure(Code.UNEXPECTED_ERROR, said, stage="bucket")
        verdict, stage, fields = rule.code, rule.stage or stage_of(rule.code), dict(rule.fields)
        if "region" in fields:
            headers = metadata.get("HTTPHeaders", {}) or {}
            real = headers.get("x-amz-bucket-region") or error.get("Region")
            if real:
                fields["region"] = f"The bucket '{params.bucket}' is in region '{real}'."
                said = f"{said} The bucket is in region '{real}', not '{params.region}'."
        if code == "RequestTimeTooSkewed":
            said = f"{said} The clock of the wizard's machine is wrong by more than 15 minutes."
        if verdict is Code.AUTHENTICATION_FAILED:
            return Failure(verdict, said, fields=fields, stage=stage, title="S3 refused the access key",
                           body="Check the access key id and its secret access key: they must be one pair, "
                                "of an active key.")
        return Failure(verdict, said, fields=fields, stage=stage)

    # --- functionalities --------------------------------------------------------------------
    # Object stores hold files, not tables: there is no identity column, index, foreign key,
    # unique constraint or trigger to manage.
    functionalities = (
        functionality(
            "IDEMPOTENT_WRITING",
            "PREVENTIVE",
            "FULL",
            "Writing the same file again replaces the whole object at once, and files left over from "
            "an earlier run under the path can be deleted, so writing the same data twice leaves the same result.",
            # PutObject replaces an existing object and S3 never stores a partial object:
            # https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html
            # Strong read-after-write consistency for every PUT and DELETE:
            # https://docs.aws.amazon.com/AmazonS3/latest/userguide/Welcome.html#ConsistencyModel
            # DeleteObjects removes up to 1,000 keys per request:
            # https://docs.aws.amazon.com/AmazonS3/latest/API/API_DeleteObjects.html
            {"DATA_DELETION": []},
        ),
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Large files are uploaded in parts sent in parallel (multipart upload). Only the transfer is "
            "sped up: there are no indexes, constraints or triggers to switch off during a load.",
            # https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html
            {},
        ),
    )


CONNECTOR = S3()

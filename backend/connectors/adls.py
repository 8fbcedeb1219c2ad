"""Azure Data Lake Storage / Blob Storage, a destination only: the async azure-storage-blob client adlfs uses.

adlfs (``AzureBlobFileSystem``) writes through ``azure.storage.blob.aio``; the test talks to
that same client directly, built by the wizard so that its deadlines hold (adlfs builds its
own client without them): no retries, connection and read timeouts from the deadline, no
redirects, and an aiohttp session pinned to the address the dns/tcp stages checked.

Credentials, in this order: ``storage_connection_string`` (account level),
``container_connection_string`` (a connection string with a SAS, or a container SAS URL),
then ``storage_account_name`` + ``storage_account_key`` (endpoint
``https://<account>.blob.core.windows.net``); with a connection string, the account is the
string's and ``storage_account_name`` is not used. Never the machine's own (adlfs would
fall back on environment variables and ``DefaultAzureCredential``; the wizard does not).

Why not an ``AzureBlobFileSystem`` per test: besides the above, adlfs registers
``weakref.finalize(self, sync, loop, close_service_client, self)``, whose arguments hold the
instance, so it is never freed: each test would leak a client and the credentials in it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import socket
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import Field

from backend.connectors._objectstore import (
    NotChecked,
    Pins,
    StorageEndpoint,
    check_destination_only,
    describe_link,
    first_stage,
    hook_notes,
    listing_step,
    path_message,
    prefix_of,
    probe,
    safe_first_line,
    transport_failure,
)
from backend.connectors.base import Connector, ConnectorModel, classified, functionality
from backend.core import RunContext
from backend.core.rules import ErrorFacts, ErrorRule, match
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.spec.fields import SECRET
from backend.spec.formfacts import Alternative, FieldFacts, Option, URIFacts
from backend.spec.schemas import ApplicationMessage


class CreateADLSFSConnector(ConnectorModel):
    connector_type: Literal["ADLSFSConnector"] = Field(title="Connector Type")
    storage_container_name: str | None = Field(default=None, title="Storage Container Name")
    storage_account_name: str | None = Field(default=None, title="Storage Account Name")
    container_connection_string: Annotated[str | None, SECRET] = Field(
        default=None, title="Container Connection String", repr=False
    )
    storage_account_key: Annotated[str | None, SECRET] = Field(default=None, title="Storage Account Key", repr=False)
    storage_connection_string: Annotated[str | None, SECRET] = Field(
        default=None, title="Storage Connection String", repr=False
    )
    remote_path: str | None = Field(default="/", title="Remote Path")


_ACCOUNT = "storage_account_name"
_KEY = "storage_account_key"
_CONTAINER = "storage_container_name"
_CONN = "storage_connection_string"
_CONTAINER_CONN = "container_connection_string"

# https://learn.microsoft.com/en-us/azure/storage/common/storage-account-overview#storage-account-name
_ACCOUNT_NAME = re.compile(r"^[a-z0-9]{3,24}$")
# https://learn.microsoft.com/en-us/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9]))*$")
_SPECIAL_CONTAINERS = ("$root", "$web", "$logs")
# (Worded without "Name=value" samples: the secret scrubber masks what follows "AccountKey=".)
_CONNECTION_STRING_SHAPE = (
    "An Azure Storage connection string is a list of Name=value settings separated by ';': "
    "DefaultEndpointsProtocol, AccountName, AccountKey and EndpointSuffix, "
    "or BlobEndpoint and SharedAccessSignature (copy it from the Azure portal, Access keys)."
)

# Blob service error codes: https://learn.microsoft.com/en-us/rest/api/storageservices/blob-service-error-codes
# and https://learn.microsoft.com/en-us/rest/api/storageservices/common-rest-api-error-codes
_CREDENTIAL = "_credential"
"""Stands in the rules for the request field that held the credential (``Plan.field``, through ``blame``)."""
_REFUSED = ErrorRule(
    Code.AUTHENTICATION_FAILED, {_CREDENTIAL: "Azure Storage refused this credential."}, number="AuthenticationFailed",
    stage="authentication", title="Azure Storage refused the credentials",
    body="Check the account key or the shared access signature (SAS), which may be wrong, regenerated or expired.",
)
_DENIED = {_CREDENTIAL: "This credential may not list the container (a SAS needs the 'l' permission), "
                        "or the account's firewall does not admit the wizard."}
_NO_CONTAINER = {_CONTAINER: "No container of this name in the storage account."}
# Azure Storage error codes (https://learn.microsoft.com/en-us/rest/api/storageservices/common-rest-api-error-codes,
# blob-service-error-codes), then the HTTP status of an answer without one.
_RULES: tuple[ErrorRule, ...] = (
    *(replace(_REFUSED, number=code) for code in ("AuthenticationFailed", "InvalidAuthenticationInfo",
                                                  "NoAuthenticationInformation", "KeyBasedAuthenticationNotPermitted")),
    *(ErrorRule(Code.PERMISSION_DENIED, _DENIED, number=code, stage="container") for code in (
        "AuthorizationFailure", "AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch",
        "AuthorizationServiceMismatch", "AuthorizationSourceIPMismatch", "AuthorizationProtocolMismatch",
        "InsufficientAccountPermissions", "AccountIsDisabled")),
    *(ErrorRule(Code.CONTAINER_NOT_FOUND, _NO_CONTAINER, number=code, stage="container")
      for code in ("ContainerNotFound", "ContainerBeingDeleted", "ContainerDisabled", "ResourceNotFound")),
    ErrorRule(Code.INVALID_PARAMETERS, {_CONTAINER: "This is not a valid container name."}, number="InvalidResourceName",
              stage="container"),
    replace(_REFUSED, number=401),
    ErrorRule(Code.PERMISSION_DENIED, _DENIED, number=403, stage="container"),
    ErrorRule(Code.CONTAINER_NOT_FOUND, _NO_CONTAINER, number=404, stage="container"),
)


@dataclass
class Plan:
    """How the test will reach the container."""

    field: str
    """The request field holding the credential used (blamed when it is refused)."""
    kind: str
    account: str | None
    container: str
    build: Any
    """``build(**client_kwargs) -> ContainerClient``."""


def parse_connection_string(text: str) -> dict[str, str] | None:
    """Key → value (keys lower-cased) the way azure-storage-blob parses it, or None when malformed."""
    text = text.strip().rstrip(";")
    if not text:
        return None
    pairs = [part.split("=", 1) for part in text.split(";")]
    if any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        return None
    return {key.strip().lower(): value.strip() for key, value in pairs}


def _valid_key(key: str) -> bool:
    try:
        return len(base64.b64decode(key, validate=True)) > 0
    except (binascii.Error, ValueError):
        return False


def _invalid(field: str, text: str) -> Failure:
    return Failure(Code.INVALID_PARAMETERS, text, fields={field: text}, stage="parameters")


def pinned_resolver(pins: Pins) -> Any:
    """An aiohttp resolver that answers only for the checked host, with the checked address.

    (aiohttp does not ask a resolver about IP literals; those are the checked address already.)
    aiohttp is imported here, on first use, not when the registry loads.
    """
    from aiohttp.abc import AbstractResolver, ResolveResult

    class PinnedResolver(AbstractResolver):
        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[ResolveResult]:
            address = pins.address_for(host, port)
            if address is None:
                raise NotChecked(f"{host}:{port} was not checked by the wizard's target policy")
            return [ResolveResult(
                hostname=host, host=address, port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0, flags=socket.AI_NUMERICHOST,
            )]

        async def close(self) -> None:
            return None

    return PinnedResolver()


class ADLS(Connector[CreateADLSFSConnector]):
    type_name = "ADLSFSConnector"
    label = "Azure Data Lake Storage"
    position = 8
    model = CreateADLSFSConnector
    example = {"connector_type": "ADLSFSConnector",
               "storage_container_name": "exports", "storage_account_name": "mystorageaccount", "storage_account_key": "ZXhhbXBsZS1rZXk=", "remote_path": "/exports/"}
    source = False
    # Form facts (GET …/forms/, backend.spec.uri): abfss://container@account.dfs.core.windows.net/folder,
    # az://container/folder (adlfs), and the portal's connection strings (secrets, whole).
    category = "storage"
    target_fields = (_ACCOUNT, _CONTAINER)
    form_order = (_CONTAINER, "remote_path", _ACCOUNT, _KEY, _CONN, _CONTAINER_CONN)
    form_fields = {
        _CONTAINER: FieldFacts("Container", "The container (file system) to write to.", "exports"),
        "remote_path": FieldFacts(help="The folder inside the container; / for the top. The test lists what is "
                                       "stored under it."),
        _ACCOUNT: FieldFacts("Storage account", "The storage account's name: 3 to 24 lower-case letters and digits.",
                             "mystorageaccount"),
        _KEY: FieldFacts("Account key", "One of the storage account's access keys (Access keys in the Azure "
                                        "portal). It is never shown again."),
        _CONN: FieldFacts("Account connection string", "The storage account's connection string (Access keys in "
                                                       "the Azure portal). It is never shown again."),
        _CONTAINER_CONN: FieldFacts("Container connection string or SAS URL",
                                    "A connection string with a shared access signature, or a SAS URL, that grants "
                                    "access to the container. It is never shown again."),
    }
    alternatives = (
        Alternative("auth", "Sign in with", (
            Option("Account name and key", (_ACCOUNT, _KEY)),
            Option("Account connection string", (_CONN,)),
            Option("Container connection string or SAS URL", (_CONTAINER_CONN,)),
        )),
    )
    uri = URIFacts(schemes=("abfss", "abfs", "az"), example="abfss://exports@mystorageaccount.dfs.core.windows.net/folder/",
                   parts={"user": _CONTAINER, "account": _ACCOUNT, "folder": "remote_path"},
                   scheme_parts={"az": {"host": _CONTAINER, "folder": "remote_path"}},
                   connection_strings={"accountkey": _CONN, "usedevelopmentstorage": _CONN,
                                       "sharedaccesssignature": _CONTAINER_CONN},
                   secret_urls={".blob.core.windows.net": _CONTAINER_CONN})
    hooks = frozenset()
    hook_notes = hook_notes("Azure Storage")
    stage_names = ("parameters", "dns", "tcp", "tls", "authentication", "container", "path")

    async def diagnose(self, params: CreateADLSFSConnector, ctx: RunContext) -> ApplicationMessage:
        import aiohttp
        from azure.core.pipeline.transport import AioHttpTransport

        d = ctx.diagnosis
        prefix = prefix_of(params.remote_path)

        async def parameters() -> tuple[Plan, StorageEndpoint]:
            plan = self.plan(params)
            try:
                probe_client = plan.build()
            except (ValueError, TypeError) as exc:
                raise _invalid(plan.field, f"This is not a usable Azure Storage credential. {_CONNECTION_STRING_SHAPE}") \
                    from exc
            # The client's URL may carry a SAS token: only its scheme, host and port are kept.
            endpoint = StorageEndpoint.from_url(
                probe_client.url,
                "the storage account's endpoint" if plan.field == _KEY else f"the endpoint in {plan.field}",
                host_field=_ACCOUNT if plan.field == _KEY else plan.field,
                port_field=None if plan.field == _KEY else plan.field,
            )
            await probe_client.close()
            if not endpoint.host or endpoint.scheme not in ("http", "https"):
                raise _invalid(plan.field, f"The blob endpoint must be an http(s) URL. {_CONNECTION_STRING_SHAPE}")
            return plan, endpoint

        plan, endpoint = await d.step("parameters", parameters)
        d.payload["server"] = {
            "product": "Azure Blob Storage",
            "endpoint": endpoint.display,
            "account": plan.account,
            "container": plan.container,
            "credential": plan.field,
            "prefix": prefix or "/",
        }
        pins = await probe(endpoint, ctx)
        first = first_stage(endpoint)

        remaining = max(0.05, ctx.deadline.remaining())
        connector = aiohttp.TCPConnector(resolver=pinned_resolver(pins), use_dns_cache=False)
        # The session is the wizard's: no proxies from the environment, no cookies, and the
        # body left compressed as azure-core expects of a session it did not create.
        async with aiohttp.ClientSession(connector=connector, trust_env=False, cookie_jar=aiohttp.DummyCookieJar(),
                                         auto_decompress=False) as session:
            transport = AioHttpTransport(session=session, session_owner=False,
                                         connection_timeout=remaining, read_timeout=remaining)
            container = plan.build(transport=transport, retry_total=0, permit_redirects=False)
            async with container:

                async def listing() -> list[str]:
                    try:
                        return await asyncio.wait_for(self.first_names(container, prefix),
                                                      timeout=ctx.deadline.remaining())
                    except TimeoutError:
                        raise ctx.deadline.timeout_failure(endpoint.display, first) from None

                names = await listing_step(ctx, endpoint,
                                           classified(listing, lambda exc: self.classify(exc, plan, endpoint)),
                                           "container")
                empty_folder = False
                if prefix and not names:
                    empty_folder = await self.is_folder(container, prefix, ctx)
                if ctx.on_connected is not None:  # live capabilities: with this same pinned client
                    await ctx.on_connected(container, ctx)

        d.payload["server"]["blobs_seen"] = len(names)
        where = f"'{prefix}' in container '{plan.container}'" if prefix else f"container '{plan.container}'"
        if names:
            found = f"Blobs are stored under '{prefix}'." if prefix else "The container holds blobs."
        elif empty_folder:
            found = f"'{prefix}' is an empty directory."
        else:
            found = f"The container '{plan.container}' is empty."
        account = f" of account '{plan.account}'" if plan.account else ""
        body = (
            f"Listed container '{plan.container}'{account} at {endpoint.display} with the credentials of "
            f"{plan.field} ({plan.kind}). {found + ' ' if names or empty_folder or not prefix else ''}"
            f"{describe_link(endpoint)}"
        )
        return path_message(
            ctx, found=bool(names) or empty_folder or not prefix, where=where, found_detail=found,
            success_title=f"Connected to container '{plan.container}'", success_body=body,
        )

    # --- parameters -------------------------------------------------------------------------

    def plan(self, params: CreateADLSFSConnector) -> Plan:
        self.check_hooks(params)
        check_destination_only(params, self.label)
        container = (params.storage_container_name or "").strip()
        conn = params.storage_connection_string
        container_conn = params.container_connection_string
        parsed: dict[str, dict[str, str]] = {}
        for field, value in ((_CONN, conn), (_CONTAINER_CONN, container_conn)):
            if value and not value.strip().lower().startswith(("http://", "https://")):
                parsed[field] = self.check_connection_string(field, value)

        if conn:
            return self._from_connection_string(_CONN, conn, parsed[_CONN], container)
        if container_conn:
            if container_conn.strip().lower().startswith(("http://", "https://")):
                return self._from_container_url(container_conn.strip(), container)
            return self._from_connection_string(_CONTAINER_CONN, container_conn, parsed[_CONTAINER_CONN], container)

        account = (params.storage_account_name or "").strip()
        key = params.storage_account_key or ""
        if not account and not key:
            text = "Give a connection string, or the storage account name and one of its access keys."
            raise Failure(
                Code.INVALID_PARAMETERS, text, stage="parameters",
                fields={
                    _CONN: "The account's connection string (Access keys in the Azure portal),",
                    _CONTAINER_CONN: "or a connection string or SAS URL for the container,",
                    _ACCOUNT: "or the storage account name",
                    _KEY: "and one of its access keys.",
                },
            )
        if not account:
            raise _invalid(_ACCOUNT, "Give the name of the storage account this key belongs to.")
        if not key:
            raise _invalid(_KEY, f"Give an access key of the storage account '{account}' (or a connection string).")
        if not _ACCOUNT_NAME.match(account):
            raise _invalid(_ACCOUNT, "Storage account names are 3 to 24 lower-case letters and digits.")
        if not _valid_key(key):
            raise _invalid(_KEY, "This is not a storage account key: keys are base64 text, as shown in the portal.")
        self.check_container(container)
        url = f"https://{account}.blob.core.windows.net"

        def build(**kwargs: Any) -> Any:
            from azure.storage.blob.aio import ContainerClient

            return ContainerClient(url, container, credential={"account_name": account, "account_key": key}, **kwargs)

        return Plan(_KEY, "account key", account, container, build)

    def check_connection_string(self, field: str, value: str) -> dict[str, str]:
        """Check a connection string's shape; never echo any of it."""
        settings = parse_connection_string(value)
        if settings is None:
            raise _invalid(field, f"This connection string is malformed. {_CONNECTION_STRING_SHAPE}")
        if settings.get("usedevelopmentstorage", "").lower() == "true":
            return settings
        if not settings.get("blobendpoint") and not settings.get("accountname"):
            raise _invalid(field, f"This connection string names no storage account (AccountName or BlobEndpoint). "
                                  f"{_CONNECTION_STRING_SHAPE}")
        if settings.get("blobendpoint"):
            endpoint = settings["blobendpoint"]
            if not endpoint.lower().startswith(("http://", "https://")) or not urlsplit(endpoint).hostname:
                raise _invalid(field, "The BlobEndpoint of this connection string is not an http(s) URL.")
        if settings.get("accountkey"):
            if not settings.get("accountname"):
                raise _invalid(field, "This connection string has an AccountKey but no AccountName.")
            if not _valid_key(settings["accountkey"]):
                raise _invalid(field, "The AccountKey of this connection string is not a storage key (base64 text).")
        elif not settings.get("sharedaccesssignature"):
            raise _invalid(field, "This connection string holds no credential: it needs an AccountKey or a "
                                  "SharedAccessSignature.")
        return settings

    def check_container(self, container: str) -> None:
        if not container:
            raise _invalid(_CONTAINER, "Give the name of the container to write to.")
        if container not in _SPECIAL_CONTAINERS and not _CONTAINER_NAME.match(container):
            raise _invalid(_CONTAINER, "Container names are 3 to 63 lower-case letters, digits and single hyphens, "
                                       "starting and ending with a letter or digit.")

    def _from_connection_string(self, field: str, value: str, settings: dict[str, str], container: str) -> Plan:
        self.check_container(container)
        kind = "account key" if settings.get("accountkey") else "shared access signature"
        if settings.get("usedevelopmentstorage", "").lower() == "true":
            kind = "development storage"
        account = settings.get("accountname") or None

        def build(**kwargs: Any) -> Any:
            from azure.storage.blob.aio import ContainerClient

            return ContainerClient.from_connection_string(value, container, **kwargs)

        return Plan(field, f"connection string with {kind}", account, container, build)

    def _from_container_url(self, url: str, container: str) -> Plan:
        parts = urlsplit(url)
        if "sig" not in parse_qs(parts.query):
            raise _invalid(_CONTAINER_CONN, "This container URL carries no SAS token (the query part after '?').")
        segments = [s for s in parts.path.split("/") if s]
        from_url = segments[-1] if segments else ""
        if not from_url:
            raise _invalid(_CONTAINER_CONN, "This URL names no container (https://<account>.blob.core.windows.net/"
                                            "<container>?<SAS>).")
        if container and container != from_url:
            raise _invalid(_CONTAINER, f"The container connection string is for container '{from_url}'.")
        self.check_container(from_url)
        host = (parts.hostname or "").lower()
        account = host.split(".", 1)[0] if host.endswith(".blob.core.windows.net") else (
            segments[-2] if len(segments) > 1 else None)

        def build(**kwargs: Any) -> Any:
            from azure.storage.blob.aio import ContainerClient

            return ContainerClient.from_container_url(url, **kwargs)

        return Plan(_CONTAINER_CONN, "container SAS URL", account, from_url, build)

    # --- the storage calls ------------------------------------------------------------------

    @staticmethod
    async def first_names(container: Any, prefix: str) -> list[str]:
        """Names of (at most) the first blob under ``prefix``: one List Blobs request.

        List Blobs answers ``ContainerNotFound`` for a missing container, so one request checks
        the credential, the container and the path (a container SAS may list but not read the
        container's properties: https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas#permissions-for-a-directory-container-or-blob).
        """
        pages = container.list_blobs(name_starts_with=prefix or None, results_per_page=1).by_page()
        async for page in pages:
            return [blob.name async for blob in page]
        return []

    @staticmethod
    async def is_folder(container: Any, prefix: str, ctx: RunContext) -> bool:
        """Whether ``prefix`` is an empty directory of a hierarchical namespace (ADLS Gen2).

        Through the Blob API a directory is a zero-length blob with metadata ``hdi_isfolder=true``
        (https://learn.microsoft.com/en-us/azure/storage/blobs/data-lake-storage-known-issues#blob-storage-apis).
        Anything but a clear yes (no such blob, no read permission, no time left) counts as no.
        """
        try:
            blob = container.get_blob_client(prefix.rstrip("/"))
            props = await asyncio.wait_for(blob.get_blob_properties(), timeout=ctx.deadline.remaining())
        except Exception:  # noqa: BLE001 - a best-effort refinement of "nothing under the path"
            return False
        return str((props.metadata or {}).get("hdi_isfolder", "")).lower() == "true"

    # --- errors -----------------------------------------------------------------------------

    def classify(self, exc: BaseException, plan: Plan, endpoint: StorageEndpoint) -> Failure:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

        first = first_stage(endpoint)
        if isinstance(exc, HttpResponseError) and exc.status_code is not None:
            return self._http_error(exc, plan)
        found = transport_failure(exc, endpoint)
        if found is not None:
            return found
        if isinstance(exc, ServiceResponseError):
            return Failure(Code.UNEXPECTED_ERROR, f"{endpoint.display} does not answer like Azure Storage.",
                           stage=first)
        if isinstance(exc, ServiceRequestError):
            return Failure(Code.UNEXPECTED_ERROR, f"The request to {endpoint.display} could not be sent.", stage=first)
        return Failure(Code.UNEXPECTED_ERROR, f"The request to {endpoint.display} failed ({type(exc).__name__}).",
                       stage=first)

    def _http_error(self, exc: Any, plan: Plan) -> Failure:
        raw = exc.error_code or ""
        code = str(getattr(raw, "value", raw))  # a StorageErrorCode member, or the header's text
        status = int(exc.status_code)
        # Only the first line of the service's message: the lines after it (AuthenticationErrorDetail)
        # quote the request's signature and the string it signed.
        message = safe_first_line(str(getattr(exc, "message", "") or "")).rstrip(".")
        said = f"Azure Storage answered {code or status} (HTTP {status})" + (f": {message}" if message else "") + "."
        # Azurite answers a wrong key with AuthorizationFailure and the AuthenticationFailed text
        # (azurite/src/blob/errors/StorageErrorFactory.ts, getAuthorizationFailure); Azure uses
        # AuthorizationFailure for a request that is authenticated but not allowed (firewall,
        # SAS restrictions). Telling the two apart takes the message: the last resort.
        if code == "AuthorizationFailure" and message.startswith("Server failed to authenticate"):
            code = "AuthenticationFailed"
        if code == "KeyBasedAuthenticationNotPermitted":
            said = f"{said} This storage account does not accept access keys (only Microsoft Entra ID)."
        rule = match(ErrorFacts(said, numbers=(code,) if code else (status,)), _RULES)
        if rule is None:
            return Failure(Code.UNEXPECTED_ERROR, said, stage="container")
        failure = rule.failure(said, blame={_CREDENTIAL: plan.field})
        if rule.code is Code.CONTAINER_NOT_FOUND:
            account = f" in account '{plan.account}'" if plan.account else ""
            failure.detail = f"{said} There is no container '{plan.container}'{account}."
        return failure

    # --- functionalities --------------------------------------------------------------------
    # Containers hold files (blobs), not tables: there is no identity column, index, foreign
    # key, unique constraint or trigger to manage.
    functionalities = (
        functionality(
            "IDEMPOTENT_WRITING",
            "PREVENTIVE",
            "FULL",
            "Uploading a file again replaces the whole blob, and files left over from an earlier run under "
            "the path can be deleted, so writing the same data twice leaves the same result.",
            # Put Blob overwrites the whole content of an existing block blob (no partial update):
            # https://learn.microsoft.com/en-us/rest/api/storageservices/put-blob
            # Delete Blob, and Blob Batch for up to 256 deletions per request:
            # https://learn.microsoft.com/en-us/rest/api/storageservices/delete-blob
            # https://learn.microsoft.com/en-us/rest/api/storageservices/blob-batch
            {"DATA_DELETION": []},
        ),
        functionality(
            "HIGH_PERFORMANCE_WRITING",
            "ADDITIVE",
            "PARTIAL",
            "Large files are uploaded as blocks sent in parallel, then committed at once. Only the transfer is "
            "sped up: there are no indexes, constraints or triggers to switch off during a load.",
            # Put Block stages blocks independently; Put Block List commits them:
            # https://learn.microsoft.com/en-us/rest/api/storageservices/put-block
            # https://learn.microsoft.com/en-us/rest/api/storageservices/put-block-list
            {},
        ),
    )


CONNECTOR = ADLS()

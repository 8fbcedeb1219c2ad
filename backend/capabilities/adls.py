"""Azure Data Lake Storage / Blob Storage: what this credential may do in the container under ``remote_path``.

Here the credential is its own catalog, read without any request:

- An account key (``storage_account_key``, or ``AccountKey`` in a connection string) authorizes
  every operation on the account's data (https://learn.microsoft.com/en-us/rest/api/storageservices/authorize-with-shared-key).
- A shared access signature carries its permissions in ``sp``: ``r`` read, ``a`` add, ``c`` create,
  ``w`` write, ``d`` delete, ``l`` list
  (https://learn.microsoft.com/en-us/rest/api/storageservices/create-service-sas#permissions-for-a-directory-container-or-blob;
  account SAS: https://learn.microsoft.com/en-us/rest/api/storageservices/create-account-sas#specify-the-signed-permissions).
  Put Blob of a new blob needs ``c`` or ``w``, overwriting needs ``w``; Delete Blob needs ``d``.

A refusal is HTTP 403 (``AuthorizationPermissionMismatch``, ``AuthorizationFailure``…:
https://learn.microsoft.com/en-us/rest/api/storageservices/blob-service-error-codes). The fixes are
Azure CLI commands that issue a SAS with the permissions needed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from backend.capabilities import objectstore
from backend.capabilities.facts import ACCESS_NAMES, Finding, Findings
from backend.capabilities.objectstore import Fixes, Refused, StoreOps
from backend.capabilities.schemas import CapabilityOptions
from backend.connectors._objectstore import prefix_of
from backend.connectors.adls import CONNECTOR, CreateADLSFSConnector, parse_connection_string
from backend.core import RunContext


def sas_permissions(params: CreateADLSFSConnector) -> str | None:
    """The ``sp`` of the SAS the test used; None when it used an account key (full access)."""
    plan = CONNECTOR.plan(params)
    if plan.field == "storage_account_key":
        return None
    value = getattr(params, plan.field) or ""
    if value.strip().lower().startswith(("http://", "https://")):
        query = urlsplit(value.strip()).query
    else:
        settings = parse_connection_string(value) or {}
        if settings.get("accountkey") or settings.get("usedevelopmentstorage"):
            return None
        query = settings.get("sharedaccesssignature", "")
    return "".join(parse_qs(query.lstrip("?")).get("sp", [""]))


def fixes(account: str | None, container: str) -> Fixes:
    def sas(permissions: str) -> str:
        return (f"az storage container generate-sas --account-name {account or '<account>'} --name {container} "
                f"--permissions {permissions} --expiry <YYYY-MM-DDTHH:MMZ> --https-only --output tsv")

    return Fixes(read=sas("rl"), write=sas("racwl"), delete=sas("racwdl"))


def from_permissions(sp: str | None, where: str, found: Fixes) -> dict[str, Finding]:
    """The access a credential gives, from its SAS permissions (None: an account key)."""
    if sp is None:
        full = Finding.available(f"An account key may do anything under {where}.")
        return dict.fromkeys(ACCESS_NAMES, full)
    given = f"the SAS grants '{sp}'"

    def needs(letters: str, verb: str, fix: str, any_of: bool = False) -> Finding:
        held = any(c in sp for c in letters) if any_of else all(c in sp for c in letters)
        if held:
            return Finding.available(f"You may {verb} under {where} ({given}).")
        wanted = " or ".join(letters) if any_of else " and ".join(letters)
        return Finding.unavailable(f"You may not {verb} under {where}: {given}, without {wanted}.", fix)

    return {
        "READ": needs("rl", "list and read blobs", found.read),
        "WRITE": needs("w", "write (overwrite) blobs", found.write),
        "CREATE": needs("cw", "create blobs", found.write, any_of=True),
        "DELETE": needs("d", "delete blobs", found.delete),
    }


async def examine(container: Any, params: CreateADLSFSConnector, options: CapabilityOptions, ctx: RunContext) -> Findings:
    plan = CONNECTOR.plan(params)
    prefix = prefix_of(params.remote_path)
    where = f"container {plan.container}, prefix /{prefix}"
    findings = Findings(scope=where)
    if options.schema_name:
        findings.notes.append("Azure Storage has no schemas: `schema` was not used.")
    found = fixes(plan.account or getattr(container, "account_name", None), plan.container)
    findings.access = from_permissions(sas_permissions(params), where, found)
    if options.write_probe:
        await objectstore.write_probe(_ops(container), prefix, where, findings, found, ctx.deadline)
    objectstore.deletion_follows_access(findings)
    return findings


def _ops(container: Any) -> StoreOps:
    async def put(key: str) -> None:
        await _refusing(container.upload_blob(key, b"", overwrite=False))

    async def exists(key: str) -> bool:
        async def names() -> list[str]:
            return [b.name async for b in container.list_blobs(name_starts_with=key, results_per_page=1)]

        return key in await _refusing(names())

    async def read(key: str) -> None:
        stream = await _refusing(container.download_blob(key))
        await stream.readall()

    async def delete(key: str) -> None:
        await _refusing(container.delete_blob(key))

    return StoreOps(put, exists, read, delete)


async def _refusing(call: Any) -> Any:
    """Await an SDK call; a 403 is :class:`Refused` with the service's error code."""
    from azure.core.exceptions import HttpResponseError

    try:
        return await call
    except HttpResponseError as exc:
        if exc.status_code == 403:
            raise Refused(str(getattr(exc, "error_code", None) or "AuthorizationFailure")) from None
        raise

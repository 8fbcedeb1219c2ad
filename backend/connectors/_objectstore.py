"""What the object-store connectors (S3, ADLS) share: parameters, the endpoint stages, pinning.

Object stores are reached over HTTP(S) at an endpoint the wizard derives (from the region, the
account name, a connection string or an environment variable). That endpoint goes through the
same dns and tcp stages and target policy as a database host, and the HTTP client is then
pinned to the address that was checked: it may connect to no other host, and it does not
resolve the name a second time (a DNS answer that changes between the check and the request
cannot send it elsewhere).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from backend.connectors.base import ConnectorModel
from backend.core import RunContext
from backend.core.rules import exception_chain
from backend.diagnosis.messages import CATALOG, Code
from backend.diagnosis.netprobe import TCP_TARGET, TcpTarget, reach, resolve
from backend.diagnosis.stages import Failure
from backend.hooks import tls
from backend.spec.schemas import ApplicationMessage, SystemMessageKind

OBJECT_STORE_HOOK_NOTES = {
    "SSHTunnel": "{label} is reached over HTTPS at its storage endpoint; an SSH tunnel does not apply.",
    "SSL": "{label} encryption follows the endpoint (https://), and its certificate is always verified: "
           "there is nothing to set here.",
    "Kerberos": "{label} authenticates with its own keys, not with Kerberos.",
}


def hook_notes(label: str) -> dict[str, str]:
    return {name: text.format(label=label) for name, text in OBJECT_STORE_HOOK_NOTES.items()}


def check_destination_only(params: ConnectorModel, label: str) -> None:
    """S3 and ADLS are write-only destinations in this API (docs/design.md: ``write_connectors`` only)."""
    if params.is_source:
        text = f"{label} can only be a destination: the wizard does not read from it."
        raise Failure(Code.INVALID_PARAMETERS, text, fields={"is_source": text}, stage="parameters")


def prefix_of(remote_path: str | None) -> str:
    """The key prefix of ``remote_path``: '' for the root, else 'a/b/' (object stores have no leading '/')."""
    parts = [p for p in (remote_path or "").replace("\\", "/").split("/") if p]
    return "/".join(parts) + "/" if parts else ""


def is_printable_ascii(value: str) -> bool:
    return all(33 <= ord(c) <= 126 for c in value)


@dataclass(frozen=True)
class StorageEndpoint:
    """Where the HTTP client will connect."""

    scheme: str
    host: str
    """Host name as in the URL (lower case, IPv6 without brackets): TLS verifies the certificate against it."""
    port: int
    origin: str
    """Where the endpoint came from, in plain words (for messages)."""
    host_field: str | None = None
    """The request field to blame for a wrong host (None: no request field sets it)."""
    port_field: str | None = None

    @classmethod
    def from_url(
        cls, url: str, origin: str, host_field: str | None = None, port_field: str | None = None
    ) -> StorageEndpoint:
        parts = urlsplit(url)
        scheme = (parts.scheme or "https").lower()
        host = (parts.hostname or "").lower()
        port = parts.port or (443 if scheme == "https" else 80)
        return cls(scheme, host, port, origin, host_field, port_field)

    @property
    def display(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass
class Pins:
    """Host and port → the address the policy checked. The HTTP client connects only through these."""

    addresses: dict[tuple[str, int], str]

    def address_for(self, host: str, port: int) -> str | None:
        return self.addresses.get((host.lower().strip("[]").rstrip("."), int(port)))


class NotChecked(OSError):
    """The HTTP client tried a host the dns/tcp stages and the target policy did not check."""


async def probe(endpoint: StorageEndpoint, ctx: RunContext, note: str = "") -> Pins:
    """The dns and tcp stages for ``endpoint``; returns the pins for the HTTP client.

    A failure names the request field that sets the host (or the port); when the endpoint
    comes from the wizard's own environment no request field is to blame, and the body says so.
    """
    d = ctx.diagnosis
    try:
        addresses = await d.step(
            "dns",
            lambda: resolve(
                endpoint.host, endpoint.port, ctx.deadline, ctx.policy,
                field=endpoint.host_field or "_endpoint", port_field=endpoint.port_field or "_endpoint",
            ),
        )
        d.note("dns", f"{endpoint.host} → {', '.join(addresses)} ({endpoint.origin})")
        address = await d.step(
            "tcp",
            lambda: reach(
                addresses, endpoint.port, ctx.deadline, host=endpoint.host,
                field=endpoint.host_field or "_endpoint", port_field=endpoint.port_field or "_endpoint",
            ),
        )
    except Failure as failure:
        failure.fields = {k: v for k, v in failure.fields.items() if not k.startswith("_")}
        if endpoint.host_field is None or note:
            advice = CATALOG[failure.code].body
            failure.body = f"{advice} {note or f'The endpoint {endpoint.display} is {endpoint.origin}.'}".strip()
        raise
    d.note("tcp", f"{address}:{endpoint.port} accepted the connection")
    ctx.prepared[TCP_TARGET] = TcpTarget(address, endpoint.port, endpoint.port_field)
    return Pins({(endpoint.host, endpoint.port): address})


def mark_plain_http(ctx: RunContext, endpoint: StorageEndpoint) -> None:
    if not endpoint.tls:
        tls.report(ctx, {"enabled": False}, f"{endpoint.display} is plain HTTP: the link is NOT encrypted.")


def mark_tls_passed(ctx: RunContext, endpoint: StorageEndpoint) -> None:
    if endpoint.tls:
        tls.report(ctx, {"enabled": True, "verified": True}, "HTTPS; the server's certificate was verified.")


def first_stage(endpoint: StorageEndpoint) -> str:
    """The first stage the storage request settles: tls over HTTPS, else authentication."""
    return "tls" if endpoint.tls else "authentication"


T = TypeVar("T")


async def listing_step(ctx: RunContext, endpoint: StorageEndpoint, listing: Callable[[], Awaitable[T]], where: str) -> T:
    """The storage request (one listing) as the stages it settles: tls over HTTPS, authentication, and
    ``where`` (the bucket or container); plain HTTP is marked a warning."""
    mark_plain_http(ctx, endpoint)
    first = first_stage(endpoint)
    covers = ("authentication", where) if first == "tls" else (where,)
    result = await ctx.diagnosis.step(first, listing, covers=covers)
    mark_tls_passed(ctx, endpoint)
    return result


def describe_link(endpoint: StorageEndpoint) -> str:
    if endpoint.tls:
        return "The link is encrypted (HTTPS) and the server's certificate was verified."
    return "The link is NOT encrypted (plain HTTP)."


def transport_failure(exc: BaseException, endpoint: StorageEndpoint) -> Failure | None:
    """A verdict for an error below HTTP (TLS, refused, timed out, unchecked host), from exception types."""
    chain = exception_chain(exc)
    stage = first_stage(endpoint)
    if any(isinstance(e, NotChecked) for e in chain):
        return Failure(
            Code.TARGET_NOT_ALLOWED,
            f"The storage client tried to reach a host other than {endpoint.display}, which was the one checked.",
            stage=stage,
        )
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return Failure(
            Code.TLS_CERTIFICATE_INVALID,
            f"The certificate of {endpoint.display} could not be verified (untrusted, expired, or for another name).",
            stage="tls",
        )
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return Failure(Code.TLS_HANDSHAKE_FAILED, f"The TLS handshake with {endpoint.display} failed.", stage="tls")
    if any(isinstance(e, (TimeoutError, socket.timeout)) for e in chain):
        return Failure(
            Code.CONNECTION_TIMEOUT, f"{endpoint.display} did not answer in time.", stage=stage
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return Failure(
            Code.PORT_CLOSED,
            f"{endpoint.display} refused the connection.",
            fields={endpoint.port_field: "Nothing is listening there."} if endpoint.port_field else None,
            stage=stage,
        )
    return None


def path_message(
    ctx: RunContext, *, found: bool, where: str, found_detail: str, success_title: str, success_body: str
) -> ApplicationMessage:
    """The verdict after a listing worked: success, or a warning that nothing is stored under the path yet.

    Object stores have no folders: a "folder" is only a common prefix of object names, which
    exists as soon as one object is written under it. An empty path is therefore no error:
    the first write creates it. The wizard warns (it may be a typo) but does not fail.
    """
    d = ctx.diagnosis
    took = f"The test took {ctx.deadline.elapsed_ms()} ms."
    if found:
        d.mark("path", "passed", found_detail)
        return d.message(Code.CONNECTION_SUCCESSFUL, kind=SystemMessageKind.success, title=success_title,
                         body=f"{success_body} {took}")
    d.mark("path", "warning", f"Nothing is stored under {where} yet.")
    text = (
        f"Nothing is stored under {where} yet. Object stores have no real folders, so this is not an error: "
        "the path is created by the first file written there. Check the spelling if you expected files."
    )
    return d.message(
        Code.PATH_NOT_FOUND,
        kind=SystemMessageKind.warning,
        title="Connected; nothing is stored under that path yet",
        body=f"{success_body} {text} {took}",
        fields={"remote_path": ["Nothing is stored under this path yet; it will be created on the first write."]},
    )


def safe_first_line(text: str, limit: int = 200) -> str:
    """The first line of a server's message, shortened: later lines may carry signatures or request dumps."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"

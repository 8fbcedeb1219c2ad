"""The dns and tcp stages: resolve once, check the policy, then reach the checked address."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backend.core import ReachedAddress
from backend.diagnosis.messages import CATALOG, Code
from backend.diagnosis.stages import Deadline, Failure
from backend.security.policy import TargetPolicy

if TYPE_CHECKING:
    from backend.core import RunContext

# RFC 6761: ".invalid" never resolves, and resolvers should say so at once without asking
# the network; ".localhost" is always loopback.
_SPECIAL_INVALID = (".invalid",)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


async def resolve(
    host: str, port: int, deadline: Deadline, policy: TargetPolicy, *, field: str = "host", port_field: str = "port"
) -> list[str]:
    """All addresses of ``host`` (IP literals as they are), each checked against the policy."""
    host = host.strip()
    bare = host.strip("[]")
    if is_ip(bare):
        addresses = [bare]
    else:
        policy.check_name(field, host)  # a refused name is never sent to the resolver
        name = bare.lower().rstrip(".")
        if name == "invalid" or name.endswith(_SPECIAL_INVALID) or any(c.isspace() for c in name):
            raise _not_found(host, field, "the name is reserved as invalid (RFC 6761)" if "invalid" in name else "")
        if name == "localhost" or name.endswith(".localhost"):
            addresses = ["127.0.0.1"]
        else:
            loop = asyncio.get_running_loop()
            try:
                infos = await asyncio.wait_for(
                    loop.getaddrinfo(bare, port, type=socket.SOCK_STREAM), timeout=deadline.remaining()
                )
            except TimeoutError:
                raise Failure(
                    Code.CONNECTION_TIMEOUT,
                    f"The name server did not resolve {host} before the deadline.",
                    fields={field: "The name of this host could not be resolved in time."},
                    stage="dns",
                ) from None
            except (socket.gaierror, UnicodeError) as exc:
                raise _not_found(host, field, str(getattr(exc, "strerror", "") or "")) from None
            addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    policy.check(field, host, addresses, port)
    return addresses


def _not_found(host: str, field: str, why: str) -> Failure:
    text = f"No address is known for '{host}'" + (f" ({why})." if why else ".")
    return Failure(Code.HOST_NOT_FOUND, text, fields={field: "Host name not found: check the spelling."}, stage="dns")


async def reach(
    addresses: list[str], port: int, deadline: Deadline, *, host: str, field: str = "host", port_field: str = "port"
) -> str:
    """Open (and close) a TCP connection to the first address that accepts; return that address."""
    last: Failure | None = None
    for address in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout=deadline.remaining())
        except TimeoutError:
            raise Failure(
                Code.CONNECTION_TIMEOUT,
                f"{host}:{port} did not answer within the {deadline.seconds:g} s deadline.",
                fields={field: "No answer from this host and port: check both, and any firewall in between."},
                stage="tcp",
            ) from None
        except OSError as exc:
            last = _classify_oserror(exc, host, port, field, port_field)
            continue
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), timeout=min(0.5, deadline.remaining()))
        except (TimeoutError, OSError):
            pass
        return address
    assert last is not None
    raise last


async def reach_directly(host: str, port: int, ctx: RunContext) -> ReachedAddress:
    """The dns and tcp stages straight to ``host:port`` (no tunnel): the address the policy checked.

    One of the two ways to reach a database; the other, through an SSH tunnel, is
    ``hooks.ssh.reach_through_tunnel``. Both return a :class:`ReachedAddress`.
    """
    d = ctx.diagnosis
    addresses = await d.step("dns", lambda: resolve(host, port, ctx.deadline, ctx.policy))
    d.note("dns", f"{host} → {', '.join(addresses)}")
    address = await d.step("tcp", lambda: reach(addresses, port, ctx.deadline, host=host))
    d.note("tcp", f"{address}:{port} accepted the connection")
    ctx.prepared[TCP_TARGET] = TcpTarget(address, port, "port")
    d.mark("ssh", "skipped", "No SSH tunnel was asked for.")
    return ReachedAddress(host=host, address=address, port=port)


def _classify_oserror(exc: OSError, host: str, port: int, field: str, port_field: str) -> Failure:
    if exc.errno == errno.ECONNREFUSED:
        return Failure(
            Code.PORT_CLOSED,
            f"{host} refused the connection on port {port}.",
            fields={port_field: f"Nothing is listening on port {port}."},
            stage="tcp",
        )
    if exc.errno in (errno.ETIMEDOUT,):
        return Failure(Code.CONNECTION_TIMEOUT, f"{host}:{port} did not answer.", fields={field: "No answer."}, stage="tcp")
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM):
        return Failure(
            Code.CONNECTION_TIMEOUT,
            f"There is no network route to {host}:{port} ({exc.strerror}).",
            fields={field: "This host cannot be reached from the wizard's network."},
            stage="tcp",
        )
    return Failure(Code.UNEXPECTED_ERROR, f"Connecting to {host}:{port} failed: {exc.strerror or exc}.", stage="tcp")


TCP_TARGET = "tcp"
"""The key in ``RunContext.prepared`` under which the address the tcp stage reached directly is kept."""

RESET_SUSPECTS = frozenset({
    Code.UNEXPECTED_ERROR, Code.TLS_HANDSHAKE_FAILED, Code.TLS_NOT_SUPPORTED, Code.CONNECTION_TIMEOUT,
})
"""Verdicts a port that hangs up at once produces in the drivers (an EOF or a reset where the
protocol's first answer was due, e.g. MySQL's CR_SERVER_LOST), which a second look at the port
tells apart. The look never outlasts the test's deadline: after a real timeout it is skipped."""


@dataclass(frozen=True)
class TcpTarget:
    """The address and port the tcp stage reached directly (no tunnel), and the field that sets the port."""

    address: str
    port: int
    port_field: str | None


async def hangs_up_at_once(target: TcpTarget, deadline: Deadline, wait_s: float = 0.5) -> bool:
    """Whether ``target`` accepts a connection and closes it before saying or waiting for anything.

    Decided from what the socket reports, not from a driver's words: end of stream (EOF) or
    ``ECONNRESET`` before any byte. A server that speaks first (a greeting) or waits for the client
    (reading, so silent within ``wait_s``) is no hang-up; neither is a refused or unreachable port.
    """
    budget = min(wait_s, deadline.remaining())
    if budget <= 0:
        return False
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(target.address, target.port), timeout=budget)
    except (TimeoutError, OSError):
        return False
    try:
        first = await asyncio.wait_for(reader.read(1), timeout=max(0.0, min(wait_s, deadline.remaining())))
    except TimeoutError:
        return False  # it waits for the client, as most database protocols do
    except ConnectionResetError:
        return True
    except OSError as exc:
        return exc.errno == errno.ECONNRESET
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), timeout=0.2)
        except (TimeoutError, OSError):
            pass
    return first == b""


def reset_failure(target: TcpTarget, detail: str) -> Failure:
    """The ``CONNECTION_RESET`` verdict: the port accepted the connection and closed it at once."""
    return Failure(
        Code.CONNECTION_RESET,
        detail,
        fields={target.port_field: CATALOG[Code.CONNECTION_RESET].body} if target.port_field else None,
        stage="tcp",
    )

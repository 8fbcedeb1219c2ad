"""The SSH tunnel hook: dns → tcp → ssh (handshake, login, can the SSH server reach the database?).

The wizard opens the SSH connection itself, bounded by the test's deadline, with paramiko: its
own socket (connect timeout = what is left of the deadline), then the handshake, the login and a
``direct-tcpip`` channel to the database (RFC 4254 §7.2) that proves the SSH server may and can
reach it. Only then is the authenticated transport handed to an ``sshtunnel`` forwarder, which
listens on a loopback port for the database driver. sshtunnel's own login path is not used: it
reads ``~/.ssh/config``, the agent and ``~/.ssh`` keys, swallows the reason of a failure, and waits
up to 15 s for a banner whatever its timeout says.

The SSH server's host key is shown (type and SHA256 fingerprint, as ``ssh-keygen -lf`` prints
them), never checked against or written to a ``known_hosts`` file. Passwords, keys and
passphrases never appear in a message: every text below is the wizard's own wording; only the
SSH server's channel-open reason (e.g. "Connection refused") is quoted.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import paramiko
import sshtunnel
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

from backend.core import ReachedAddress
from backend.diagnosis.messages import Code
from backend.diagnosis.netprobe import reach, resolve
from backend.diagnosis.stages import Deadline, Failure, run_blocking
from backend.spec.schemas import CreateSSHTunnelHooksSchema

if TYPE_CHECKING:
    from backend.core import RunContext

log = logging.getLogger("wizard.ssh")
_TUNNEL_LOG = logging.getLogger("wizard.ssh.tunnel")

PREFIX = "hooks_params.SSHTunnel"
DEFAULT_SSH_PORT = 22
DEFAULT_LOCAL_HOST = "127.0.0.1"
GRACE_S = 0.25
"""Inner timeouts run a little past the deadline: the caller has given up by then, the thread ends."""

# RFC 4254 §5.1: the reason codes of SSH_MSG_CHANNEL_OPEN_FAILURE.
OPEN_ADMINISTRATIVELY_PROHIBITED = 1
OPEN_CONNECT_FAILED = 2

# What `ssh-keygen -lf` prints in parentheses for each host key algorithm.
_KEY_TYPES = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA"}


def field_path(name: str) -> str:
    """The field path of an SSHTunnel field, as ``details`` names it."""
    return f"{PREFIX}.{name}"


@dataclass(frozen=True)
class Plan:
    """The checked SSHTunnel settings."""

    host: str
    port: int
    username: str
    password: str | None
    pkey: str | None
    pkey_password: str | None
    local_host: str
    local_port: int


@dataclass
class Progress:
    """What the SSH step got to, written by its thread, read for messages and the payload."""

    phase: str = "connect"
    info: dict[str, Any] = field(default_factory=dict)


# --- the stages --------------------------------------------------------------------------------


async def reach_through_tunnel(
    tunnel: CreateSSHTunnelHooksSchema, host: str, port: int, ctx: RunContext
) -> ReachedAddress:
    """The dns, tcp and ssh stages through an SSH tunnel; returns the tunnel's local end."""
    d = ctx.diagnosis

    async def parameters() -> Plan:
        return check_tunnel(tunnel)

    plan = await d.step("parameters", parameters)

    async def dns() -> list[str]:
        # The database host is resolved by the SSH server: the policy checks its name and any IP literal.
        ctx.policy.check_remote("host", host, port)
        return await resolve(plan.host, plan.port, ctx.deadline, ctx.policy, field=field_path("host"), port_field=field_path("port"))

    addresses = await d.step("dns", dns)
    d.note(
        "dns",
        f"SSH server {plan.host} → {', '.join(addresses)}; the database host '{host}' is resolved by the SSH server",
    )

    async def tcp() -> str:
        try:
            return await reach(addresses, plan.port, ctx.deadline, host=plan.host, field=field_path("host"), port_field=field_path("port"))
        except Failure as failure:
            raise _tcp_failure(failure, plan, ctx.deadline) from None

    address = await d.step("tcp", tcp)
    d.note("tcp", f"{address}:{plan.port} (the SSH server) accepted the connection")

    progress = Progress()
    progress.info.update({"host": plan.host, "port": plan.port, "username": plan.username, "target": f"{host}:{port}"})
    d.payload["ssh"] = progress.info

    async def ssh() -> _Forwarder:
        try:
            return await run_blocking(
                lambda: open_tunnel(plan, address, host, port, ctx.deadline, progress),
                ctx.deadline,
                f"the SSH server {plan.host}:{plan.port}",
                stage="ssh",
                cleanup=close_tunnel,
            )
        except Failure as failure:
            if failure.code is Code.CONNECTION_TIMEOUT and not failure.fields:
                raise _timeout_failure(plan, host, port, ctx.deadline, progress.phase) from None
            raise

    forwarder = await d.step("ssh", ssh)
    ctx.stack.callback(close_tunnel, forwarder)
    local_host, local_port = forwarder.local_bind_address
    progress.info.update({"local_host": local_host, "local_port": local_port})
    d.note(
        "ssh",
        f"Logged in to {plan.host}:{plan.port} as '{plan.username}' ({progress.info.get('auth')}); "
        f"{describe_host_key(progress.info)}; the SSH server reached {host}:{port}; "
        f"tunnel {local_host}:{local_port} → {host}:{port}",
    )
    return ReachedAddress(host=host, address=local_host, port=local_port, via_ssh=True)


def tunnel_sentence(ctx: RunContext) -> str:
    """A sentence for the success message about the SSH server, or "" without a tunnel."""
    info = ctx.diagnosis.payload.get("ssh")
    if not info or "host_key" not in info:
        return ""
    return (
        f" The SSH tunnel went through {info['host']}:{info['port']} as '{info['username']}'; "
        f"{describe_host_key(info)}: compare it with the fingerprint your administrator gave you."
    )


def describe_host_key(info: dict[str, Any]) -> str:
    key = info.get("host_key")
    if not key:
        return "the SSH server's host key is not known"
    return f"the SSH server's host key is {key['type']} {key['fingerprint']}"


# --- parameters -------------------------------------------------------------------------------


def check_tunnel(tunnel: CreateSSHTunnelHooksSchema) -> Plan:
    """The SSHTunnel settings, checked; every problem at once, each naming its field."""
    bad: dict[str, str] = {}
    host = (tunnel.host or "").strip()
    if not host:
        bad[field_path("host")] = "Give the host name or address of the SSH server."
    port = DEFAULT_SSH_PORT if tunnel.port is None else tunnel.port
    if not 1 <= port <= 65535:
        bad[field_path("port")] = "The SSH port must be between 1 and 65535 (usually 22)."
    username = (tunnel.username or "").strip()
    if not username:
        bad[field_path("username")] = "Give the user name to log in to the SSH server with."
    password = tunnel.password or None
    pkey = tunnel.pkey if tunnel.pkey and tunnel.pkey.strip() else None
    if password is None and pkey is None:
        text = "Give the SSH password or a private key."
        bad[field_path("password")] = text
        bad[field_path("pkey")] = text
    local_host = (tunnel.local_host or "").strip() or DEFAULT_LOCAL_HOST
    if local_host.lower() == "localhost":
        local_host = DEFAULT_LOCAL_HOST
    try:
        local_ip = ipaddress.ip_address(local_host)
    except ValueError:
        local_ip = None
    if local_ip is None or local_ip.version != 4 or not local_ip.is_loopback:
        bad[field_path("local_host")] = (
            "The tunnel listens on this machine's loopback only: use 127.0.0.1 (or leave it empty)."
        )
    local_port = tunnel.local_port or 0
    if not 0 <= local_port <= 65535:
        bad[field_path("local_port")] = "The local port must be between 1 and 65535, or empty for any free port."
    if bad:
        raise Failure(
            Code.INVALID_PARAMETERS,
            "Some SSH tunnel settings are missing or not valid.",
            fields=bad,
            stage="parameters",
        )
    return Plan(host, port, username, password, pkey, tunnel.pkey_password or None, local_host, local_port)


# --- the private key --------------------------------------------------------------------------


def load_private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    """An inline private key (RSA, ECDSA or ed25519; OpenSSH, PKCS#1/SEC1 or PKCS#8 PEM; encrypted or not).

    ``cryptography`` reads every format (its exceptions say what went wrong without quoting the
    key: TypeError for a missing or needless password, ValueError for a wrong one or bad data);
    the key is then handed to paramiko in the OpenSSH format, in memory only.
    """
    data = _normalised(text).encode()
    hint = _not_a_private_key(data)
    if hint:
        raise _key_failure(hint)
    openssh = b"-----BEGIN OPENSSH PRIVATE KEY-----" in data

    def load(password: bytes | None) -> Any:
        if openssh:
            return serialization.load_ssh_private_key(data, password=password)
        return serialization.load_pem_private_key(data, password=password)

    try:
        key = load(None)
    except TypeError:  # encrypted, and no password was given
        if not passphrase:
            raise Failure(
                Code.SSH_KEY_INVALID,
                "The private key is encrypted: give its passphrase.",
                fields={field_path("pkey_password"): "This key is protected by a passphrase; enter it here."},
                stage="ssh",
            ) from None
        try:
            key = load(passphrase.encode())
        except (ValueError, TypeError):
            raise Failure(
                Code.SSH_KEY_INVALID,
                "The passphrase does not open the private key.",
                fields={field_path("pkey_password"): "This passphrase does not open the key."},
                stage="ssh",
            ) from None
        except UnsupportedAlgorithm:
            raise _key_failure("The key is encrypted with a cipher that cannot be read here.") from None
    except (ValueError, UnsupportedAlgorithm):
        raise _key_failure("The text is not a complete private key in a known format.") from None
    return _to_paramiko(key)


def _normalised(text: str) -> str:
    text = text.strip().replace("\r\n", "\n").replace("\r", "\n")
    if "\n" not in text and "\\n" in text:  # pasted with escaped line breaks
        text = text.replace("\\n", "\n")
    return text + "\n"


def _not_a_private_key(data: bytes) -> str:
    head = data.lstrip()[:64]
    if head.startswith((b"ssh-", b"ecdsa-sha2-", b"sk-")) or b"PUBLIC KEY" in head:
        return "This is a public key: paste the private key (the file without .pub)."
    if head.startswith(b"PuTTY-User-Key-File"):
        return "This is a PuTTY key: export it in OpenSSH format (PuTTYgen: Conversions → Export OpenSSH key)."
    if b"-----BEGIN" not in data:
        return "The text is not a private key: it should start with '-----BEGIN … PRIVATE KEY-----'."
    return ""


def _to_paramiko(key: Any) -> paramiko.PKey:
    if isinstance(key, rsa.RSAPrivateKey):
        cls: Any = paramiko.RSAKey
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        cls = paramiko.ECDSAKey
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        cls = paramiko.Ed25519Key
    elif isinstance(key, dsa.DSAPrivateKey):
        raise _key_failure("DSA keys are no longer accepted by OpenSSH or paramiko: use an ed25519, ECDSA or RSA key.")
    else:
        raise _key_failure(f"Keys of type {type(key).__name__} cannot be used: use an ed25519, ECDSA or RSA key.")
    try:
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
        return cls.from_private_key(io.StringIO(pem))
    except (ValueError, paramiko.SSHException):  # e.g. an elliptic curve SSH does not define
        raise _key_failure("This kind of key cannot be used for SSH: use an ed25519, ECDSA (P-256/384/521) or RSA key.") from None


def _key_failure(why: str) -> Failure:
    return Failure(Code.SSH_KEY_INVALID, why, fields={field_path("pkey"): why}, stage="ssh")


# --- the SSH connection (runs in its own thread, bounded by the deadline) ---------------------


def open_tunnel(plan: Plan, address: str, host: str, port: int, deadline: Deadline, progress: Progress) -> _Forwarder:
    """Handshake, login, check that the SSH server reaches ``host:port``, then listen locally."""
    host = host.strip().strip("[]")  # the SSH server resolves it: an IPv6 literal goes without brackets
    key = load_private_key(plan.pkey, plan.pkey_password) if plan.pkey else None
    progress.phase = "connect"
    try:
        sock = socket.create_connection((address, plan.port), timeout=max(0.05, deadline.remaining()))
    except TimeoutError:
        raise _timeout_failure(plan, host, port, deadline, "connect") from None
    except OSError as exc:
        raise _unreachable(plan, f"the connection failed ({exc.strerror or type(exc).__name__})") from None
    transport = _Transport(sock)
    forwarder: _Forwarder | None = None
    try:
        _handshake(transport, plan, deadline, progress)
        _login(transport, plan, key, deadline, progress)
        _check_forwarding(transport, plan, host, port, deadline, progress)
        progress.phase = "listen"
        forwarder = _Forwarder(transport, plan, key, host, port)
        try:
            forwarder.start()
        except sshtunnel.BaseSSHTunnelForwarderError:
            raise Failure(
                Code.INVALID_PARAMETERS,
                f"The tunnel could not listen on {plan.local_host}:{plan.local_port or 'any port'}.",
                fields={field_path("local_port"): "This local port is in use or not allowed: leave it empty for any free port."},
                stage="ssh",
            ) from None
        return forwarder
    except BaseException:  # whatever ends the setup (a cancel included): close what was opened, re-raise
        if forwarder is not None:
            close_tunnel(forwarder)
        transport.close()
        raise


def _handshake(transport: _Transport, plan: Plan, deadline: Deadline, progress: Progress) -> None:
    progress.phase = "handshake"
    remaining = deadline.remaining()
    transport.banner_timeout = remaining + GRACE_S
    transport.handshake_timeout = remaining + GRACE_S
    transport.auth_timeout = remaining + GRACE_S
    done = threading.Event()
    transport.start_client(event=done)
    if not done.wait(deadline.remaining()):
        raise _timeout_failure(plan, "", 0, deadline, "handshake")
    if not transport.is_active():
        exc = transport.get_exception()
        if not transport.remote_version:
            # No "SSH-2.0-…" line came back (RFC 4253 §4.2): something else listens there.
            raise _unreachable(
                plan,
                "it answered, but not as an SSH server (no SSH greeting came back; something else listens "
                "there, or it closed the connection at once)",
            )
        if isinstance(exc, paramiko.IncompatiblePeer):
            raise _unreachable(plan, "the SSH server and the wizard have no key exchange, cipher or host key type in common")
        raise _unreachable(plan, f"the SSH handshake failed ({type(exc).__name__ if exc else 'connection closed'})")
    server_key = transport.get_remote_server_key()
    progress.info["server_version"] = transport.remote_version
    progress.info["host_key"] = {
        "type": host_key_type(server_key),
        "algorithm": server_key.get_name(),
        "bits": server_key.get_bits(),
        "fingerprint": server_key.fingerprint,
    }


def host_key_type(key: paramiko.PKey) -> str:
    """The key type as ``ssh-keygen -lf`` shows it: ``ED25519``, ``ECDSA``, ``RSA``."""
    name = str(key.get_name())
    if name.startswith("ecdsa-"):
        return "ECDSA"
    return _KEY_TYPES.get(name, name.upper())


def _login(
    transport: _Transport, plan: Plan, key: paramiko.PKey | None, deadline: Deadline, progress: Progress
) -> None:
    progress.phase = "login"
    refused: dict[str, str] = {}
    methods: list[str] = []
    if key is not None:
        try:
            remaining = transport.auth_publickey(plan.username, key)
            methods.append("key")
            if remaining and "password" in remaining and plan.password:
                transport.auth_password(plan.username, plan.password, fallback=True)
                methods.append("password")
        except paramiko.BadAuthenticationType as exc:
            refused[field_path("pkey")] = f"The SSH server does not accept keys (it accepts: {', '.join(exc.allowed_types)})."
        except paramiko.AuthenticationException:
            refused[field_path("pkey")] = "The SSH server did not accept this key for this user: is it in the user's authorized_keys?"
        except paramiko.SSHException:
            raise _dropped(plan, deadline) from None
    if not transport.is_authenticated() and plan.password:
        try:
            transport.auth_password(plan.username, plan.password, fallback=True)
            methods = ["password"]
        except paramiko.BadAuthenticationType as exc:
            refused[field_path("password")] = (
                f"The SSH server does not accept passwords (it accepts: {', '.join(exc.allowed_types)})."
            )
        except paramiko.AuthenticationException:
            refused[field_path("password")] = "The SSH server did not accept this password for this user."
        except paramiko.SSHException:
            raise _dropped(plan, deadline) from None
    if not transport.is_authenticated():
        if deadline.remaining() <= 0:
            raise _timeout_failure(plan, "", 0, deadline, "login")
        refused[field_path("username")] = "Check the user name: the SSH server does not say whether the user exists."
        raise Failure(
            Code.SSH_AUTHENTICATION_FAILED,
            f"The SSH server {plan.host}:{plan.port} refused the login of '{plan.username}'.",
            fields=refused,
            stage="ssh",
        )
    progress.info["auth"] = " and ".join(methods)


def _check_forwarding(
    transport: _Transport, plan: Plan, host: str, port: int, deadline: Deadline, progress: Progress
) -> None:
    """Open (and close) a ``direct-tcpip`` channel: may and can the SSH server reach the database?"""
    progress.phase = "forward"
    try:
        channel = transport.open_channel(
            "direct-tcpip", (host, port), (DEFAULT_LOCAL_HOST, 0), timeout=max(0.05, deadline.remaining())
        )
    except paramiko.ChannelException as exc:
        raise _channel_failure(exc.code, transport.open_failure_reason, plan, host, port) from None
    except paramiko.SSHException:
        if deadline.remaining() <= 0 or transport.is_active():
            raise _timeout_failure(plan, host, port, deadline, "forward") from None
        raise _dropped(plan, deadline) from None
    channel.close()
    progress.info["forwarding"] = "allowed"


def _channel_failure(code: int, reason: str, plan: Plan, host: str, port: int) -> Failure:
    reason = reason.strip()
    quoted = f" (the SSH server says: {reason})" if reason else ""
    where = f"{host}:{port}"
    if code == OPEN_ADMINISTRATIVELY_PROHIBITED:
        # sshd refuses direct-tcpip outside its PermitOpen list, or with AllowTcpForwarding no/remote
        # (sshd_config(5): AllowTcpForwarding, PermitOpen).
        text = f"The SSH server {plan.host} does not allow tunnels to {where}{quoted}."
        return Failure(
            Code.TARGET_NOT_ALLOWED,
            text,
            title="The SSH server does not allow a tunnel to the database",
            body=(
                "Ask the SSH server's administrator to allow forwarding to this host and port "
                "(sshd_config: AllowTcpForwarding, PermitOpen), or use a host name the SSH server allows."
            ),
            fields={
                "host": "The SSH server refuses to forward to this host and port (its AllowTcpForwarding/PermitOpen settings).",
                "port": "The SSH server refuses to forward to this host and port.",
            },
            stage="ssh",
        )
    if code == OPEN_CONNECT_FAILED:
        # RFC 4254 §5.1 has one code for every connect failure; OpenSSH sends strerror()/gai_strerror()
        # as the description, so the English text is the only way left to tell them apart.
        lowered = reason.lower()
        if "refused" in lowered:
            return Failure(
                Code.PORT_CLOSED,
                f"The SSH server reached {host}, but nothing listens on port {port} there{quoted}.",
                title="Nothing listens on the database port, as seen from the SSH server",
                body="Check the database port, and that the database runs and listens where the SSH server can reach it.",
                fields={"port": f"Nothing listens on port {port} as seen from the SSH server {plan.host}."},
                stage="ssh",
            )
        if any(word in lowered for word in ("not known", "name", "resolution", "nodename")):
            return Failure(
                Code.HOST_NOT_FOUND,
                f"The SSH server {plan.host} does not know the host '{host}'{quoted}.",
                fields={"host": "The SSH server cannot resolve this host name: check it, as seen from the SSH server."},
                stage="ssh",
            )
        if "timed out" in lowered or "unreachable" in lowered or "no route" in lowered:
            return Failure(
                Code.CONNECTION_TIMEOUT,
                f"The SSH server {plan.host} could not reach {where}{quoted}.",
                fields={"host": "The SSH server has no route to this host, or a firewall drops the connection."},
                stage="ssh",
            )
    return Failure(
        Code.PORT_CLOSED,
        f"The SSH server {plan.host} could not connect to {where}{quoted}.",
        fields={"host": "The SSH server could not connect to this host and port.", "port": "Check the port."},
        stage="ssh",
    )


# --- failures ---------------------------------------------------------------------------------


def _tcp_failure(failure: Failure, plan: Plan, deadline: Deadline) -> Failure:
    """The tcp stage's verdicts, about the SSH server."""
    if failure.code is Code.PORT_CLOSED:
        return Failure(
            Code.SSH_TUNNEL_UNREACHABLE,
            f"{plan.host} refused the connection on port {plan.port}: no SSH server listens there.",
            fields={field_path("port"): f"Nothing listens on port {plan.port} of the SSH server: check the SSH port (usually 22)."},
            stage="tcp",
        )
    if failure.code is Code.CONNECTION_TIMEOUT:
        return _timeout_failure(plan, "", 0, deadline, "connect", stage="tcp")
    if failure.code is Code.UNEXPECTED_ERROR:
        return Failure(Code.SSH_TUNNEL_UNREACHABLE, failure.detail, fields={field_path("host"): failure.detail}, stage="tcp")
    return failure


def _unreachable(plan: Plan, why: str) -> Failure:
    return Failure(
        Code.SSH_TUNNEL_UNREACHABLE,
        f"The SSH server {plan.host}:{plan.port} cannot be used: {why}.",
        fields={
            field_path("host"): "Check that this is the SSH server's address.",
            field_path("port"): "Check that this is the SSH server's port (usually 22).",
        },
        stage="ssh",
    )


def _dropped(plan: Plan, deadline: Deadline) -> Failure:
    if deadline.remaining() <= 0:
        return _timeout_failure(plan, "", 0, deadline, "login")
    return _unreachable(plan, "it closed the connection")


_PHASES = {
    "connect": "when connecting",
    "handshake": "during the SSH handshake",
    "login": "during the login",
    "listen": "while the tunnel was being opened",
}


def _timeout_failure(plan: Plan, host: str, port: int, deadline: Deadline, phase: str, stage: str = "ssh") -> Failure:
    if phase == "forward":
        return Failure(
            Code.CONNECTION_TIMEOUT,
            f"The SSH server {plan.host} did not reach {host}:{port} within the {deadline.seconds:g} s deadline.",
            fields={"host": "No answer from this host and port, as seen from the SSH server: check both, and any firewall."},
            title="The database did not answer the SSH server in time",
            stage="ssh",
        )
    return Failure(
        Code.CONNECTION_TIMEOUT,
        f"The SSH server {plan.host}:{plan.port} did not answer in time ({_PHASES.get(phase, phase)}, "
        f"deadline {deadline.seconds:g} s).",
        fields={field_path("host"): "No answer from the SSH server: check the SSH host and port, and any firewall in between."},
        title="The SSH server did not answer in time",
        stage=stage,
    )


# --- the transport and the forwarder ----------------------------------------------------------------------------


class _Transport(paramiko.Transport):
    """paramiko's transport, keeping the SSH server's reason when a channel cannot be opened.

    RFC 4254 §5.1: SSH_MSG_CHANNEL_OPEN_FAILURE carries a reason code and a description
    (OpenSSH puts strerror() there, e.g. "Connection refused"); paramiko logs the description
    and keeps only a generic text for the code.
    """

    open_failure_reason: str = ""

    def _parse_channel_open_failure(self, m: paramiko.Message) -> None:
        try:
            m.get_int()  # recipient channel
            m.get_int()  # reason code
            self.open_failure_reason = m.get_text()[:200]
        finally:
            m.rewind()  # paramiko reads the message again, from the start
        super()._parse_channel_open_failure(m)


class _Forwarder(sshtunnel.SSHTunnelForwarder):
    """sshtunnel's local forwarder on top of a transport the wizard has already logged in.

    It never reads ``~/.ssh/config`` (``ssh_config_file=None``), the agent (``allow_agent=False``)
    nor ``~/.ssh`` keys (``host_pkey_directories=[]``).
    """

    def __init__(self, transport: paramiko.Transport, plan: Plan, key: paramiko.PKey | None, host: str, port: int):
        self._ready_transport = transport
        super().__init__(
            (transport.getpeername()[0], plan.port),
            ssh_config_file=None,
            ssh_username=plan.username,
            # sshtunnel insists on a credential; the login is already done (see _connect_to_gateway).
            ssh_pkey=key,
            ssh_password=None if key is not None else plan.password,
            allow_agent=False,
            host_pkey_directories=[],
            local_bind_address=(plan.local_host, plan.local_port),
            remote_bind_address=(host, port),
            logger=_TUNNEL_LOG,
            set_keepalive=0.0,
            mute_exceptions=False,
        )

    def _connect_to_gateway(self) -> None:
        self._transport = self._ready_transport

    def _serve_forever_wrapper(self, _srv: Any, poll_interval: float = 0.02) -> None:
        # A shorter poll than sshtunnel's 0.1 s: stop() waits for the listener to notice.
        super()._serve_forever_wrapper(_srv, poll_interval)


def close_tunnel(forwarder: _Forwarder) -> None:
    """Stop listening, close the SSH connection and its threads (also for a tunnel opened too late)."""
    with contextlib.suppress(OSError):
        # Wakes paramiko's reader thread at once (it otherwise notices a close within 0.1 s).
        forwarder._ready_transport.sock.shutdown(socket.SHUT_RDWR)
    try:
        forwarder.stop(force=True)
    except Exception:  # closing a broken tunnel may fail; nothing more to do
        log.debug("closing an SSH tunnel failed", exc_info=True)
    transport = forwarder.__dict__.get("_transport")
    if transport is not None:
        transport.close()

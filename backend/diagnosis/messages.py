"""The stable verdict codes and their plain-words titles and advice."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    CONNECTION_SUCCESSFUL = "CONNECTION_SUCCESSFUL"
    INVALID_PARAMETERS = "INVALID_PARAMETERS"
    DRIVER_NOT_AVAILABLE = "DRIVER_NOT_AVAILABLE"
    HOST_NOT_FOUND = "HOST_NOT_FOUND"
    PORT_CLOSED = "PORT_CLOSED"
    CONNECTION_TIMEOUT = "CONNECTION_TIMEOUT"
    TLS_REQUIRED = "TLS_REQUIRED"
    TLS_NOT_SUPPORTED = "TLS_NOT_SUPPORTED"
    TLS_CERTIFICATE_INVALID = "TLS_CERTIFICATE_INVALID"
    TLS_HANDSHAKE_FAILED = "TLS_HANDSHAKE_FAILED"
    SSH_TUNNEL_UNREACHABLE = "SSH_TUNNEL_UNREACHABLE"
    SSH_AUTHENTICATION_FAILED = "SSH_AUTHENTICATION_FAILED"
    SSH_KEY_INVALID = "SSH_KEY_INVALID"
    KERBEROS_FAILED = "KERBEROS_FAILED"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    DATABASE_NOT_FOUND = "DATABASE_NOT_FOUND"
    SCHEMA_NOT_FOUND = "SCHEMA_NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    BUCKET_NOT_FOUND = "BUCKET_NOT_FOUND"
    CONTAINER_NOT_FOUND = "CONTAINER_NOT_FOUND"
    PATH_NOT_FOUND = "PATH_NOT_FOUND"
    TARGET_NOT_ALLOWED = "TARGET_NOT_ALLOWED"
    CONNECTION_RESET = "CONNECTION_RESET"
    UNEXPECTED_ERROR = "UNEXPECTED_ERROR"
    # Not a verdict of a test: the envelope of HTTP-level refusals.
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    SERVICE_BUSY = "SERVICE_BUSY"
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
    NOT_FOUND = "NOT_FOUND"
    CSRF_FAILED = "CSRF_FAILED"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # Saved connections (issue 18): docs/design.md, "HTTP-level refusals".
    CANNOT_DECRYPT = "CANNOT_DECRYPT"
    PRECONDITION_FAILED = "PRECONDITION_FAILED"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"


VERDICT_CODES: tuple[Code, ...] = tuple(Code)[:24]
"""The codes a connection test can end in (docs/design.md, "Verdict codes")."""


@dataclass(frozen=True)
class Advice:
    title: str
    body: str
    stage: str
    """The stage this verdict belongs to (where the diagnosis stopped)."""


CATALOG: dict[Code, Advice] = {
    Code.CONNECTION_SUCCESSFUL: Advice("Connection successful", "Every step worked.", "query"),
    Code.INVALID_PARAMETERS: Advice(
        "Some settings are not valid", "Correct the fields named and test again.", "parameters"
    ),
    Code.DRIVER_NOT_AVAILABLE: Advice(
        "The driver for this protocol is not installed",
        "Pick another protocol, or ask your administrator to install the driver this protocol needs.",
        "parameters",
    ),
    Code.HOST_NOT_FOUND: Advice(
        "Host name not found",
        "No address is known for this host name. Check the spelling, or use the server's IP address.",
        "dns",
    ),
    Code.PORT_CLOSED: Advice(
        "Nothing is listening on that port",
        "The host answered but refused the connection on this port. Check the port number, and that the server is running.",
        "tcp",
    ),
    Code.CONNECTION_TIMEOUT: Advice(
        "The server did not answer in time",
        "The host did not answer before the deadline. A firewall may be dropping the connection, or the host or port is wrong.",
        "tcp",
    ),
    Code.TLS_REQUIRED: Advice(
        "The server requires an encrypted connection",
        "Switch on SSL/TLS (for example ssl_mode 'require' or stricter) and test again.",
        "tls",
    ),
    Code.TLS_NOT_SUPPORTED: Advice(
        "The server does not offer an encrypted connection",
        "You asked for TLS but the server has none. Enable TLS on the server, or lower ssl_mode if an unencrypted link is acceptable.",
        "tls",
    ),
    Code.TLS_CERTIFICATE_INVALID: Advice(
        "The server's certificate is not trusted",
        "The certificate is not signed by the CA you gave, has expired, or does not name this host. Check the CA certificate and the host name.",
        "tls",
    ),
    Code.TLS_HANDSHAKE_FAILED: Advice(
        "The encrypted connection could not be set up",
        "The TLS handshake failed. Check the TLS settings, the client certificate and its key.",
        "tls",
    ),
    Code.SSH_TUNNEL_UNREACHABLE: Advice(
        "The SSH server cannot be reached",
        "Check the SSH host and port, and that it is an SSH server.",
        "ssh",
    ),
    Code.SSH_AUTHENTICATION_FAILED: Advice(
        "The SSH server refused the login",
        "Check the SSH user name, and the password or that the key is authorised on the SSH server.",
        "ssh",
    ),
    Code.SSH_KEY_INVALID: Advice(
        "The SSH private key cannot be used",
        "The key could not be read: check that it is a complete private key (RSA, ECDSA or ed25519) and its passphrase.",
        "ssh",
    ),
    Code.KERBEROS_FAILED: Advice(
        "Kerberos login failed",
        "Check the principal, the keytab and that the Kerberos server (KDC) can be reached.",
        "authentication",
    ),
    Code.AUTHENTICATION_FAILED: Advice(
        "User name or password is wrong",
        "The server refused the login. Check the user name and password.",
        "authentication",
    ),
    Code.DATABASE_NOT_FOUND: Advice(
        "The database does not exist",
        "The login worked but there is no database of that name. Check its spelling.",
        "database",
    ),
    Code.SCHEMA_NOT_FOUND: Advice(
        "The schema does not exist",
        "The database has no schema of that name. Check its spelling, or leave it empty for the default.",
        "query",
    ),
    Code.PERMISSION_DENIED: Advice(
        "Permission denied",
        "The login worked but this user may not use the requested object. Ask for the missing privilege.",
        "database",
    ),
    Code.BUCKET_NOT_FOUND: Advice(
        "The bucket does not exist",
        "The credentials work but there is no bucket of that name. Check its spelling and region.",
        "bucket",
    ),
    Code.CONTAINER_NOT_FOUND: Advice(
        "The container does not exist",
        "The credentials work but the storage account has no container of that name.",
        "container",
    ),
    Code.PATH_NOT_FOUND: Advice(
        "Nothing is stored under that path",
        "The path does not exist yet.",
        "path",
    ),
    Code.TARGET_NOT_ALLOWED: Advice(
        "This address may not be contacted",
        "The wizard's target policy does not allow connecting to this address. Ask your administrator.",
        "dns",
    ),
    Code.CONNECTION_RESET: Advice(
        "The port hung up at once",
        "Something answered on this port and hung up at once: is it the database's port?",
        "tcp",
    ),
    Code.UNEXPECTED_ERROR: Advice(
        "The test failed for an unexpected reason",
        "The server answered in a way the wizard does not recognise. Check the host and port; the technical "
        "details of the failed step say what it answered.",
        "query",
    ),
}


ACCEPTED_THEN_SILENT = Advice(
    "The server accepted the connection but never answered",
    "Something accepted the connection on this port, then sent nothing back before the deadline. "
    "Check the port: it may belong to a service that does not speak this protocol, or a proxy or the "
    "server itself may be stuck.",
    "tls",
)
"""``CONNECTION_TIMEOUT`` once the tcp stage passed: the port was open, so no firewall dropped the
connection; what listens there stayed silent (a black hole, another protocol, a stuck server)."""


def unverified_tls_advice(connector: str, verify_mode: str | None) -> Advice:
    """``CONNECTION_SUCCESSFUL`` as a warning: the link is encrypted but the server's certificate was
    not checked, so anyone in between could pretend to be the server. Says how to switch checking on
    (``verify_mode``: the connector's strictest verifying ``ssl_mode``), or that it cannot be."""
    if verify_mode is None:
        action = f"The wizard cannot check the certificate for {connector} connections."
    else:
        action = (
            f"To have it checked, set the TLS mode to {verify_mode} and give the CA certificate that signed "
            "the server's certificate, then test again."
        )
    return Advice(
        f"Connected to {connector}, but the server's identity was not checked",
        "The connection works and is encrypted, but the wizard did not check the server's certificate, so it "
        f"cannot be sure it is talking to the real server. {action}",
        "tls",
    )

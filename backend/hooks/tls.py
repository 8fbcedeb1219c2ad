"""The SSL/TLS hook: turn ``hooks_params.SSL`` into what a driver needs, for any connector.

How a connector uses it (PostgreSQL and MySQL/MariaDB do; any other driver can):

1. At the ``parameters`` stage call :func:`prepare` with the connector's ``ssl_modes``. It checks
   ``ssl_mode``, reads every ``*_filename`` strictly inside ``WIZARD_FILES_DIR``, validates every PEM
   (inline or from a file) and writes each item to a file of its own, mode 0600, in a private
   temp dir (0700) that is removed when the request ends, also on error (``ctx.stack``). Bad input
   raises ``INVALID_PARAMETERS`` naming the field (``hooks_params.SSL.ca`` …). The result,
   a :class:`TLSMaterial`, is also kept in ``ctx.prepared["SSL"]`` (:func:`material`).
2. Map :class:`TLSMaterial` to the driver's options (file paths: ``material.ca`` …). A driver that
   must not fall back on the wizard's own default files (libpq reads ``~/.postgresql/``) can be
   given :func:`missing_path`, a path in the private dir that never exists.
3. A pure-Python driver takes an ``ssl.SSLContext``: :func:`client_context` builds one that
   verifies (or not) exactly as asked, and checks the certificate against the host name the
   user typed even when the socket goes to the address the policy checked.
4. Report what was negotiated with :func:`state` (``enabled``, ``version``, ``cipher``,
   ``verified``, ``hostname_verified``) in ``payload.tls``.

Server-side files are read by :func:`read_server_file`, which the Kerberos hook uses too.
"""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from backend.core.rules import one_line
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.ops import shutdown
from backend.spec.schemas import CreateSSLHooksSchema

if TYPE_CHECKING:
    from backend.core import RunContext
    from backend.settings import Settings

FIELD = "hooks_params.SSL"
"""The SSL hook's place in a request body: every field of it is ``FIELD.<name>`` in ``details``."""
MODE_FIELD = f"{FIELD}.ssl_mode"
NAME_MISMATCH = (62, 64)
"""OpenSSL verify results (x509_vfy.h) that mean "the certificate does not name this host":
X509_V_ERR_HOSTNAME_MISMATCH (a host name) and X509_V_ERR_IP_ADDRESS_MISMATCH (an IP address)."""
MAX_FILE_BYTES = 1024 * 1024
"""Largest server-side file read (a CA bundle is a few hundred KiB at most)."""

_ITEMS = ("ca", "cert", "key")
_KIND = {"ca": "CA certificate", "cert": "client certificate", "key": "private key"}


@dataclass(frozen=True)
class TLSMaterial:
    """The validated TLS settings of one request: a mode and files only the wizard's user can read."""

    mode: str | None
    """``ssl_mode`` as the connector spells it, or None when not given (the connector picks)."""
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    origin: dict[str, str] = field(default_factory=dict)
    """Which field each item came from, e.g. ``{"ca": "hooks_params.SSL.ca_filename"}`` (to blame it)."""

    def blame(self, item: str) -> str:
        """The request field that gave ``item`` (``ca``, ``cert``, ``key``), for ``details``."""
        return self.origin.get(item, f"{FIELD}.{item}")


# --- ssl_mode ---------------------------------------------------------------------------------


LIBPQ_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
"""The one vocabulary every connector accepts (libpq's ``sslmode``): mapped to the driver's own words
where they mean the same, refused with a reason where they do not (docs/design.md, "SSL modes")."""


@dataclass(frozen=True)
class ModeWords:
    """The ``ssl_mode`` words one connector accepts: its driver's own, and the libpq words that mean the same."""

    native: tuple[str, ...]
    """The driver's own words, as the connector works with them (the first is listed first)."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Another word → the native word with the same meaning (e.g. MySQL ``verify-full`` → ``VERIFY_IDENTITY``)."""
    refusals: Mapping[str, str] = field(default_factory=dict)
    """A libpq word this connector cannot honour → why, in plain words."""

    @property
    def accepted(self) -> tuple[str, ...]:
        """Every word accepted: the native ones, then the aliases."""
        return tuple(dict.fromkeys([*self.native, *self.aliases]))

    def resolve(self, value: str | None, *, field_name: str = MODE_FIELD) -> str | None:
        """``value`` as the native word (matched case-insensitively); None when not given; else INVALID_PARAMETERS."""
        if value is None or value.strip() == "":
            return None
        wanted = value.strip()
        if wanted in self.native:
            return wanted
        folded = [m for m in self.native if m.lower() == wanted.lower()]
        if len(folded) == 1:
            return folded[0]
        alias = {word.lower(): native for word, native in self.aliases.items()}.get(wanted.lower())
        if alias is not None:
            return alias
        listed = ", ".join(self.accepted)
        why = self.refusals.get(wanted.lower())
        detail = f"'{wanted}' is not an ssl_mode this connector supports" + (f": {why}" if why else ".")
        raise Failure(
            Code.INVALID_PARAMETERS,
            detail,
            fields={field_name: (f"{why} " if why else "") + f"Use one of: {listed}."},
            stage="parameters",
        )


def check_mode(value: str | None, modes: tuple[str, ...] | ModeWords, *, field_name: str = MODE_FIELD) -> str | None:
    """``value`` spelled as in ``modes`` (matched case-insensitively); an unknown one is INVALID_PARAMETERS."""
    words = modes if isinstance(modes, ModeWords) else ModeWords(tuple(modes))
    return words.resolve(value, field_name=field_name)


def chosen_mode(found: TLSMaterial | None, *, with_ca: str, default: str) -> str:
    """The mode a driver runs in: ``ssl_mode`` as asked; ``with_ca`` when only a CA was given (give a CA,
    get it checked); the connector's ``default`` otherwise, and without the SSL hook."""
    if found is not None and found.mode:
        return found.mode
    if found is not None and found.ca is not None:
        return with_ca
    return default


# --- files ------------------------------------------------------------------------------------


def read_server_file(name: str, settings: Settings, field_name: str, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file ``name`` inside ``WIZARD_FILES_DIR``; anything else is INVALID_PARAMETERS.

    ``name`` is relative to the folder (an absolute path must lie inside it). Refused: ``..``
    anywhere, absolute paths elsewhere, symlinks that lead out of the folder, anything that is not
    a regular file (a FIFO would block the request), files over ``limit`` bytes.
    """

    def refuse(why: str) -> Failure:
        return Failure(Code.INVALID_PARAMETERS, f"{field_name}: {why}", fields={field_name: why}, stage="parameters")

    text = name.strip()
    if not text or "\x00" in text:
        raise refuse("Give the name of a file in the wizard's files folder.")
    base_dir = Path(settings.files_dir)
    try:
        base = base_dir.resolve(strict=True)
    except OSError:
        raise refuse("The wizard has no files folder (WIZARD_FILES_DIR) to read server-side files from.") from None
    raw = Path(text)
    if ".." in raw.parts:
        raise refuse("'..' is not allowed: name a file inside the wizard's files folder.")
    candidate = raw if raw.is_absolute() else base / raw
    if raw.is_absolute() and not (
        os.path.normpath(candidate).startswith(str(base) + os.sep)
        or os.path.normpath(candidate).startswith(str(base_dir.absolute()) + os.sep)
    ):
        raise refuse("Only files inside the wizard's files folder can be used.")
    try:
        real = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise refuse(f"There is no file '{text}' in the wizard's files folder.") from None
    except (OSError, RuntimeError):
        raise refuse(f"The file '{text}' cannot be read.") from None
    if not real.is_relative_to(base) or real == base:
        raise refuse("This name leads out of the wizard's files folder (through a link); it is refused.")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        raise refuse(f"The file '{text}' cannot be read.") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse(f"'{text}' is not a regular file.")
        if info.st_size > limit:
            raise refuse(f"'{text}' is larger than {limit // 1024} KiB.")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise refuse(f"'{text}' is larger than {limit // 1024} KiB.")
    return data


def private_dir(ctx: RunContext) -> Path:
    """This request's private temp dir (0700), created once, removed with ``ctx.stack``."""
    existing = ctx.prepared.get("_private_dir")
    if isinstance(existing, Path):
        return existing
    path = Path(tempfile.mkdtemp(prefix="wizard-req-"))  # mkdtemp creates it 0700
    ctx.stack.callback(shutil.rmtree, path, ignore_errors=True)
    ctx.prepared["_private_dir"] = path
    return path


def write_private(ctx: RunContext, name: str, data: bytes) -> Path:
    """Write ``data`` to ``name`` in the private dir, readable and writable by the process owner only."""
    path = private_dir(ctx) / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return path


_EMPTY_DIR_LOCK = threading.Lock()
_empty_dir: Path | None = None


def missing_path(ctx: RunContext, name: str) -> str:
    """A path that never exists: gives a driver 'no such file' instead of its defaults (~/.pgpass …).

    It lies in an empty folder of the process's own (0700, made once, removed at exit), so no
    other user can create it, and a test without TLS material makes no folder of its own.
    """
    global _empty_dir
    with _EMPTY_DIR_LOCK:
        if _empty_dir is None or not _empty_dir.is_dir():
            _empty_dir = Path(tempfile.mkdtemp(prefix="wizard-empty-"))
        return str(_empty_dir / f"absent-{name}")


def remove_empty_dir() -> None:
    """Remove the folder of :func:`missing_path` (made again by the next call that needs it)."""
    global _empty_dir
    with _EMPTY_DIR_LOCK:
        if _empty_dir is not None:
            shutil.rmtree(_empty_dir, ignore_errors=True)
            _empty_dir = None


# At the app's shutdown (uvicorn's SIGTERM skips atexit) and at exit.
shutdown.on_shutdown(remove_empty_dir)


# --- PEM validation ---------------------------------------------------------------------------


def _pem_bytes(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return raw.strip() + b"\n"


def check_certificates(data: bytes, field_name: str, what: str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; not PEM, or no certificate in it, is INVALID_PARAMETERS."""

    def refuse(why: str) -> Failure:
        return Failure(Code.INVALID_PARAMETERS, f"{field_name}: {why}", fields={field_name: why}, stage="parameters")

    if b"PRIVATE KEY-----" in data:
        raise refuse(f"This is a private key, not a {what}. Never paste a private key here.")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise refuse(f"Expected a PEM {what} ('-----BEGIN CERTIFICATE-----' …).")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise refuse(f"The {what} is not valid PEM (the base64 text is damaged or cut off).") from None
    return certs


def check_private_key(data: bytes, field_name: str) -> PrivateKeyTypes:
    """The private key of a PEM text; an encrypted or damaged key is INVALID_PARAMETERS (never echoed)."""

    def refuse(why: str) -> Failure:
        return Failure(Code.INVALID_PARAMETERS, f"{field_name}: {why}", fields={field_name: why}, stage="parameters")

    if b"PRIVATE KEY-----" not in data:
        if b"-----BEGIN CERTIFICATE-----" in data:
            raise refuse("This is a certificate, not a private key.")
        raise refuse("Expected a PEM private key ('-----BEGIN PRIVATE KEY-----' …).")
    if b"ENCRYPTED" in data:
        raise refuse("The private key is encrypted; give it unencrypted (there is no passphrase setting).")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise refuse("The private key is encrypted; give it unencrypted (there is no passphrase setting).") from None
    except (ValueError, UnsupportedAlgorithm):
        raise refuse("The private key is not valid PEM, or of a kind that cannot be used.") from None


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


# --- the hook ---------------------------------------------------------------------------------


def prepare(
    ssl_hook: CreateSSLHooksSchema | None, ctx: RunContext, modes: tuple[str, ...] | ModeWords
) -> TLSMaterial | None:
    """Validate ``hooks_params.SSL`` and write its PEMs to private files; None when no hook was given.

    Every problem of every field is reported at once, each under its own field path.
    """
    if ssl_hook is None:
        return None
    problems: dict[str, str] = {}
    try:
        mode = check_mode(ssl_hook.ssl_mode, modes)
    except Failure as failure:
        problems.update({k: v[0] for k, v in failure.fields.items()})
        mode = None

    contents: dict[str, bytes] = {}
    origin: dict[str, str] = {}
    for item in _ITEMS:
        inline: str | None = getattr(ssl_hook, item)
        filename: str | None = getattr(ssl_hook, f"{item}_filename")
        inline_field, file_field = f"{FIELD}.{item}", f"{FIELD}.{item}_filename"
        has_inline = inline is not None and inline.strip() != ""
        has_file = filename is not None and filename.strip() != ""
        if has_inline and has_file:
            why = f"Give the {_KIND[item]} either inline ({item}) or as a file ({item}_filename), not both."
            problems[inline_field] = why
            problems[file_field] = why
            continue
        try:
            if has_inline:
                assert inline is not None
                contents[item], origin[item] = _pem_bytes(inline), inline_field
            elif has_file:
                assert filename is not None
                contents[item] = _pem_bytes(read_server_file(filename, ctx.settings, file_field))
                origin[item] = file_field
        except Failure as failure:
            problems.update({k: v[0] for k, v in failure.fields.items()})

    certs: dict[str, list[x509.Certificate]] = {}
    private_key: Any = None
    for item, data in contents.items():
        try:
            if item == "key":
                private_key = check_private_key(data, origin[item])
            else:
                certs[item] = check_certificates(data, origin[item], _KIND[item])
        except Failure as failure:
            problems.update({k: v[0] for k, v in failure.fields.items()})

    if "cert" in contents and "key" not in contents and not any(k.startswith(f"{FIELD}.key") for k in problems):
        problems[f"{FIELD}.key"] = "A client certificate needs its private key (key or key_filename)."
    if "key" in contents and "cert" not in contents and not any(k.startswith(f"{FIELD}.cert") for k in problems):
        problems[f"{FIELD}.cert"] = "A private key needs its client certificate (cert or cert_filename)."
    if "cert" in certs and private_key is not None:
        leaf = certs["cert"][0]
        if _spki(leaf.public_key()) != _spki(private_key.public_key()):
            problems[origin["key"]] = "This private key does not belong to the client certificate."
        elif leaf.not_valid_after_utc < datetime.now(UTC):
            problems[origin["cert"]] = f"The client certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}."

    if problems:
        raise Failure(
            Code.INVALID_PARAMETERS,
            "The SSL/TLS settings are not usable: " + " ".join(dict.fromkeys(problems.values())),
            fields=problems,
            stage="parameters",
        )
    paths = {item: write_private(ctx, f"{item}.pem", data) for item, data in contents.items()}
    found = TLSMaterial(mode=mode, ca=paths.get("ca"), cert=paths.get("cert"), key=paths.get("key"), origin=origin)
    ctx.prepared["SSL"] = found
    return found


def material(ctx: RunContext) -> TLSMaterial | None:
    """What :func:`prepare` made for this request, if anything."""
    found = ctx.prepared.get("SSL")
    return found if isinstance(found, TLSMaterial) else None


def blame_in(params: Any, item: str) -> str:
    """The request field that gave ``item`` (``ca``, ``cert``, ``key``), from the request alone.

    For code that has the request but not the context (``classify``): ``…_filename`` when the
    item came as a server-side file, else the inline field.
    """
    hook = params.hooks_params.SSL if getattr(params, "hooks_params", None) else None
    return f"{FIELD}.{item}_filename" if hook is not None and getattr(hook, f"{item}_filename", None) else f"{FIELD}.{item}"


def blame_map(params: Any) -> dict[str, str]:
    """Each inline field → the field that really gave the item (``…_filename`` when it was a server-side file).

    For the error rules (``core.rules.classify(..., blame=...)``), which name the inline fields.
    """
    return {f"{FIELD}.{item}": blame_in(params, item) for item in _ITEMS}


def certificate_failure(
    err: ssl.SSLCertVerificationError,
    ca_field: str,
    *,
    name_why: str = "The server's certificate does not name this host.",
    ca_why: str = "The server's certificate is not signed by this CA (or has expired).",
) -> Failure:
    """The verdict of a certificate the client refused: the host is to blame when the certificate names
    another host or address (:data:`NAME_MISMATCH`), else ``ca_field``, the field that gave the CA
    (:func:`blame_in` or :meth:`TLSMaterial.blame`)."""
    fields = {"host": name_why} if err.verify_code in NAME_MISMATCH else {ca_field: ca_why}
    return Failure(Code.TLS_CERTIFICATE_INVALID, one_line(str(err)), fields=fields, stage="tls")


def system_ca_file() -> Path | None:
    """The operating system's CA bundle, as Python's own OpenSSL knows it (None if there is none).

    For drivers that bundle an OpenSSL of their own whose built-in paths point nowhere (the
    psycopg2-binary wheel does), so that 'verify against the public CAs' means the same everywhere.
    """
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


class _NamedContext(ssl.SSLContext):
    """An SSLContext that checks the certificate against ``expected_name`` whatever the driver passes.

    Drivers connect to the address the target policy checked and pass that address as
    ``server_hostname``; the user's host name is what the certificate must name.
    """

    expected_name: str | None = None

    def wrap_socket(
        self,
        sock: Any,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: Any = None,
        session: Any = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=self.expected_name or server_hostname,
            session=session,
        )


def client_context(
    found: TLSMaterial | None, *, verify: bool, check_hostname: bool, server_name: str | None = None
) -> ssl.SSLContext:
    """A client SSLContext: CA (or the system's CAs), client certificate, and exactly the checks asked for.

    ``verify``: the chain must lead to the CA. ``check_hostname``: the certificate must also name
    ``server_name`` (the host the user typed), checked even though the socket goes to an address.
    """
    context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    configure_client(context, found, verify=verify, check_hostname=check_hostname)
    context.expected_name = server_name if verify and check_hostname else None
    return context


def configure_client(context: ssl.SSLContext, found: TLSMaterial | None, *, verify: bool, check_hostname: bool) -> None:
    """Set a client ``context`` up: TLS 1.2 or later, the CA (or the system's CAs), the client certificate
    (mutual TLS), and exactly the checks asked for. For a driver that needs a context class of its own."""
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if found is not None and found.ca is not None:
            context.load_verify_locations(cafile=str(found.ca))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = check_hostname
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if found is not None and found.cert is not None and found.key is not None:
        context.load_cert_chain(str(found.cert), str(found.key))


def state(
    enabled: bool | None,
    *,
    version: str | None = None,
    cipher: str | None = None,
    verified: bool | None = None,
    hostname_verified: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The ``payload.tls`` of a connection: what was really negotiated, and what was really checked."""
    if not enabled:
        return {"enabled": enabled, **extra}
    return {
        "enabled": True,
        "version": version,
        "cipher": cipher,
        "verified": verified,
        "hostname_verified": hostname_verified if verified else False,
        **extra,
    }


def state_of_socket(sock: ssl.SSLSocket | ssl.SSLObject, context: ssl.SSLContext) -> dict[str, Any]:
    """:func:`state` of a live Python TLS socket, from what its context was set to check (and the
    server certificate's end of validity, ``not_after``, as the handshake handed it over)."""
    cipher = sock.cipher()
    try:
        der = sock.getpeercert(binary_form=True)
    except (ValueError, OSError):
        der = None
    expiry = {"not_after": not_after_of(der)} if der else {}
    return state(
        True,
        version=sock.version(),
        cipher=cipher[0] if cipher else None,
        verified=context.verify_mode == ssl.CERT_REQUIRED,
        hostname_verified=context.check_hostname,
        **expiry,
    )


def not_after_of(der: bytes | None) -> str | None:
    """The end of validity (ISO 8601 UTC) of a DER certificate; None when it cannot be read (never guessed).

    ``payload.tls.not_after`` becomes the verdict's ``payload.server.expires`` (backend/monitor/expiry.py).
    """
    if not der:
        return None
    try:
        end = x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:
        return None
    return end.isoformat().replace("+00:00", "Z")


def describe(found: dict[str, Any]) -> str:
    """:func:`state` in plain words, for the tls stage and the success message."""
    if found.get("enabled") is None:
        return "The encryption state of the link is not known"
    if not found.get("enabled"):
        return "The link is NOT encrypted"
    version = found.get("version") or "TLS"
    verified = found.get("verified")
    if verified is True:
        return f"The link is encrypted with {version}; the server's certificate was verified"
    if verified is False:
        return f"The link is encrypted with {version}, but the server's certificate was NOT verified"
    return f"The link is encrypted with {version}"


def report(ctx: RunContext, negotiated: dict[str, Any], detail: str | None = None) -> dict[str, Any]:
    """Write the TLS part of the verdict: ``payload.tls`` and the tls stage (a warning when unencrypted),
    described by ``detail`` or by :func:`describe`."""
    ctx.diagnosis.payload["tls"] = negotiated
    ctx.diagnosis.mark("tls", "passed" if negotiated.get("enabled") else "warning", detail or describe(negotiated))
    return negotiated

"""The Kerberos hook: a GSSAPI login with a principal and a keytab, isolated in a worker process.

Why a process: MIT Kerberos takes its credentials cache, client keytab and configuration from
the environment (``KRB5CCNAME``, ``KRB5_CLIENT_KTNAME``, ``KRB5_CONFIG``), which is one per
process. Two tests with different principals in one process would share (and overwrite) one
identity. So each Kerberos test runs its driver in a worker process of its own (a
``multiprocessing`` forkserver child: cheap to start, and safe to start from a threaded server)
whose environment names:

- ``KRB5CCNAME=MEMORY:…``: tickets live only in that process's memory, never on disk;
- ``KRB5_CLIENT_KTNAME``: a private copy of the keytab holding only the requested principal's keys
  (so the GSSAPI library's default initiator is exactly that principal);
- ``KRB5_CONFIG``: ``WIZARD_KRB5_CONFIG`` when set.

The worker first logs in on its own with python-gssapi (:func:`_preflight`): the KDC's answers come
back as Kerberos error codes, which say in plain words what is wrong (no KDC reachable, principal
unknown, keytab without the right key, server principal unknown). Then the connector's ``opener``
connects (the driver's GSSAPI library logs in again, by itself, from the same keytab), and the
parent drives the connection through :class:`RemoteSession`. The worker is bounded by the test's
deadline and killed at it.
"""

from __future__ import annotations

import multiprocessing
import os
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Deadline, Failure
from backend.hooks import tls
from backend.spec.schemas import CreateKerberosHooksSchema

if TYPE_CHECKING:
    from backend.core import RunContext

FIELD = "hooks_params.Kerberos"
PRINCIPAL = f"{FIELD}.principal"
KEYTAB = f"{FIELD}.keytab_file"

# --- the keytab -------------------------------------------------------------------------------
# MIT keytab file format: https://web.mit.edu/kerberos/krb5-latest/doc/formats/keytab_file_format.html
# (version 0x0502, big-endian; 0x0501 is the obsolete native-endian format).


@dataclass(frozen=True)
class KeytabEntry:
    principal: str
    """``name/instance@REALM``."""
    raw: bytes
    """The entry as stored (without its length prefix), to copy it unchanged."""


def parse_keytab(data: bytes) -> list[KeytabEntry]:
    """Every entry of an MIT keytab (v0x502); ValueError if it is not one."""
    if len(data) < 2 or data[0] != 5 or data[1] != 2:
        raise ValueError("not an MIT keytab (version 0x0502)")
    entries: list[KeytabEntry] = []
    pos = 2
    while pos + 4 <= len(data):
        (size,) = struct.unpack_from(">i", data, pos)
        pos += 4
        if size == 0:
            break
        if size < 0:  # a hole left by a deleted entry
            pos += -size
            continue
        raw = data[pos : pos + size]
        if len(raw) != size:
            raise ValueError("the keytab is cut off")
        pos += size
        entries.append(KeytabEntry(_principal_of(raw), raw))
    return entries


def _principal_of(raw: bytes) -> str:
    (count,) = struct.unpack_from(">H", raw, 0)
    pos = 2

    def octets() -> bytes:
        nonlocal pos
        (length,) = struct.unpack_from(">H", raw, pos)
        value = raw[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise ValueError("damaged keytab entry")
        pos += 2 + length
        return value

    realm = octets().decode("utf-8", "replace")
    parts = [octets().decode("utf-8", "replace") for _ in range(count)]
    return f"{'/'.join(parts)}@{realm}"


def keytab_for(entries: list[KeytabEntry], principal: str) -> bytes:
    """A keytab of only ``principal``'s entries."""
    body = b"".join(struct.pack(">i", len(e.raw)) + e.raw for e in entries if e.principal == principal)
    return b"\x05\x02" + body


# --- the parameters stage ---------------------------------------------------------------------


@dataclass(frozen=True)
class KerberosLogin:
    principal: str
    """The full principal, ``name@REALM``."""
    keytab: Path
    """The private copy of the keytab with only this principal's keys (0600, removed after the test)."""
    krb5_config: str | None


def prepare(hook: CreateKerberosHooksSchema | None, ctx: RunContext) -> KerberosLogin | None:
    """Check the principal and the keytab (inside ``WIZARD_FILES_DIR``); None when no hook was given.

    A keytab without a key for the principal is ``KERBEROS_FAILED`` at once, naming what it does hold.
    """
    if hook is None:
        return None
    problems: dict[str, str] = {}
    principal = (hook.principal or "").strip()
    if not principal:
        problems[PRINCIPAL] = "Give the Kerberos principal to log in as, e.g. alice@EXAMPLE.COM."
    elif any(c.isspace() for c in principal) or principal.count("@") > 1 or principal.startswith("@"):
        problems[PRINCIPAL] = "This is not a Kerberos principal (name[/instance]@REALM)."
    data = b""
    if not (hook.keytab_file or "").strip():
        problems[KEYTAB] = "Give the keytab file's name in the wizard's files folder."
    else:
        try:
            data = tls.read_server_file(hook.keytab_file or "", ctx.settings, KEYTAB)
        except Failure as failure:
            problems.update({k: v[0] for k, v in failure.fields.items()})
    entries: list[KeytabEntry] = []
    if data:
        try:
            entries = parse_keytab(data)
        except (ValueError, struct.error):
            problems[KEYTAB] = "This file is not a Kerberos keytab (MIT format, as made by ktutil or kadmin)."
    if problems:
        raise Failure(Code.INVALID_PARAMETERS, " ".join(dict.fromkeys(problems.values())), fields=problems,
                      stage="parameters")

    held = sorted({e.principal for e in entries})
    if "@" not in principal:
        realms = sorted({p.split("@", 1)[1] for p in held if p.split("@", 1)[0] == principal})
        realms = realms or sorted({p.split("@", 1)[1] for p in held})[:2]  # the keytab's realm, if it has one
        if len(realms) > 1 and any(p.split("@", 1)[0] == principal for p in held):
            raise Failure(Code.INVALID_PARAMETERS, f"The keytab holds '{principal}' in several realms.",
                          fields={PRINCIPAL: f"Add the realm: one of {', '.join(realms)}."}, stage="parameters")
        if len(realms) == 1:
            principal = f"{principal}@{realms[0]}"
    if principal not in held:
        listed = ", ".join(held[:5]) + (" …" if len(held) > 5 else "") if held else "nothing"
        raise Failure(
            Code.KERBEROS_FAILED,
            f"The keytab holds no key for {principal} (it holds keys for: {listed}).",
            fields={KEYTAB: f"This keytab has no key for {principal}.",
                    PRINCIPAL: "Check the principal's spelling and realm, or use the keytab made for it."},
            stage="parameters",
        )
    copy = tls.write_private(ctx, "client.keytab", keytab_for(entries, principal))
    login = KerberosLogin(principal=principal, keytab=copy, krb5_config=ctx.settings.krb5_config or None)
    ctx.prepared["Kerberos"] = login
    return login


def login_of(ctx: RunContext) -> KerberosLogin | None:
    found = ctx.prepared.get("Kerberos")
    return found if isinstance(found, KerberosLogin) else None


# --- Kerberos errors in plain words -----------------------------------------------------------
# krb5 error codes (com_err table krb5, src/lib/krb5/error_tables/krb5_err.et and kdc5_err.et),
# as signed 32-bit values. GSSAPI reports them as the minor status (python-gssapi: ``min_code``).

_KRB5_ERRORS: dict[int, tuple[str, dict[str, str]]] = {
    -1765328228: ("No Kerberos server (KDC) of the realm could be reached.",  # KRB5_KDC_UNREACH
                  {PRINCIPAL: "No KDC of this principal's realm answered: check the realm and the wizard's krb5.conf."}),
    -1765328230: ("No Kerberos server (KDC) is known for the realm.",  # KRB5_REALM_UNKNOWN
                  {PRINCIPAL: "The wizard's krb5.conf names no KDC for this realm."}),
    -1765328378: ("The KDC does not know this principal.",  # KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
                  {PRINCIPAL: "The Kerberos server has no such principal."}),
    -1765328377: ("The KDC does not know the database server's service principal.",  # KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN
                  {"host": "The KDC has no service principal for this host name: use the server's canonical "
                           "name (the one its keytab was made for)."}),
    -1765328353: ("The keytab's key for this principal is not the one the KDC has (an outdated keytab?).",  # KRB5KRB_AP_ERR_BAD_INTEGRITY
                  {KEYTAB: "The key in this keytab is outdated or wrong: export the keytab again."}),
    -1765328360: ("The KDC refused the keytab's key (pre-authentication failed).",  # KRB5KDC_ERR_PREAUTH_FAILED
                  {KEYTAB: "The key in this keytab is outdated or wrong: export the keytab again."}),
    -1765328203: ("The keytab holds no key for this principal.",  # KRB5_KT_NOTFOUND
                  {KEYTAB: "This keytab has no key for the principal."}),
    -1765328366: ("The principal's key has expired at the KDC.",  # KRB5KDC_ERR_KEY_EXP
                  {PRINCIPAL: "The principal's password or key has expired."}),
    -1765328372: ("The KDC locked or disabled this principal.",  # KRB5KDC_ERR_CLIENT_REVOKED
                  {PRINCIPAL: "This principal is locked or disabled."}),
    -1765328347: ("The clocks of the wizard and the KDC differ by too much.",  # KRB5KRB_AP_ERR_SKEW
                  {}),
    -1765328370: ("The KDC supports none of the keytab's encryption types.",  # KRB5KDC_ERR_ETYPE_NOSUPP
                  {KEYTAB: "The keytab's key types are not accepted by the KDC."}),
}


def _signed(code: int) -> int:
    return code - (1 << 32) if code >= 1 << 31 else code


def kerberos_failure(min_code: int, text: str) -> Failure:
    """A GSSAPI/krb5 error as ``KERBEROS_FAILED`` with the reason in plain words."""
    reason, fields = _KRB5_ERRORS.get(_signed(min_code), (None, {}))
    detail = f"{reason} ({text})" if reason else f"Kerberos login failed: {text}"
    return Failure(Code.KERBEROS_FAILED, detail, fields=fields or {PRINCIPAL: "Kerberos login failed."},
                   stage="authentication")


def _preflight(principal: str, keytab: str, target: str) -> None:
    """Log in as ``principal`` from ``keytab`` and ask for a ticket to ``target`` (``service@host``).

    Runs in the worker. python-gssapi gives the KDC's answer as a Kerberos error code.
    """
    import gssapi
    import gssapi.raw

    store: dict[bytes | str, bytes | str] = {"client_keytab": f"FILE:{keytab}", "ccache": "MEMORY:wizard-preflight"}
    try:
        name = gssapi.Name(principal, gssapi.NameType.kerberos_principal)
        creds = gssapi.Credentials(name=name, usage="initiate", store=store)
        service = gssapi.Name(target, gssapi.NameType.hostbased_service)
        gssapi.SecurityContext(name=service, creds=creds, usage="initiate").step()
    except gssapi.exceptions.GSSError as exc:
        message = exc.gen_message()
        # "Major (…): …, Minor (…): <the krb5 text>": keep the krb5 text (the code decides, not the text).
        text = message.split("Minor (", 1)[1].split("): ", 1)[-1] if "Minor (" in message else message
        raise kerberos_failure(exc.min_code or 0, text.strip()) from None


# --- the worker process -----------------------------------------------------------------------

Opener = Callable[..., tuple[Any, Any]]
"""Runs in the worker: opens the connection; returns ``(connection, facts sent back at once)``."""

_mp_lock = threading.Lock()
_mp: Any = None


def _context(preload: tuple[str, ...]) -> Any:
    """The forkserver context; its server preloads the worker's modules once (the first caller's).

    As with any multiprocessing start method but fork, each worker imports the parent's main
    script again as ``__mp_main__`` (multiprocessing.spawn.prepare); under ``python -m pytest`` or
    ``python -m uvicorn`` that is nothing, under a console script (``streamlit``) it is that
    script's imports. The main script must be import-safe (``if __name__ == "__main__":``).
    """
    global _mp
    with _mp_lock:
        if _mp is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["backend.hooks.kerberos", "gssapi", *preload])
            _mp = context
        return _mp


def _describe(exc: BaseException) -> tuple[Any, ...]:
    if isinstance(exc, Failure):
        return ("failure", exc.code.value, exc.detail, exc.fields, exc.stage)
    simple = tuple(a for a in exc.args if isinstance(a, (int, str, float, bool, type(None))))
    return ("error", type(exc).__name__, str(exc), getattr(exc, "pgcode", None), simple)


class RemoteError(Exception):
    """A driver error raised in the worker, with what classification needs (text, pgcode, args)."""

    def __init__(self, type_name: str, text: str, pgcode: str | None, args: tuple[Any, ...]) -> None:
        super().__init__(*(args or (text,)))
        self.type_name = type_name
        self.text = text
        self.pgcode = pgcode

    def __str__(self) -> str:
        return self.text


def _raise(reply: tuple[Any, ...]) -> Any:
    if reply[0] == "ok":
        return reply[1]
    if reply[0] == "failure":
        _, code, detail, fields, stage = reply
        raise Failure(Code(code), detail, fields=fields, stage=stage)
    _, type_name, text, pgcode, args = reply
    raise RemoteError(type_name, text, pgcode, args)


def _worker(pipe: Connection, env: dict[str, str], login: KerberosLogin, target: str | None,
            opener: Opener, args: tuple[Any, ...]) -> None:
    for name in ("KRB5CCNAME", "KRB5_CLIENT_KTNAME", "KRB5_KTNAME", "KRB5_TRACE"):
        os.environ.pop(name, None)
    os.environ.update(env)
    conn: Any = None
    try:
        if target:
            _preflight(login.principal, str(login.keytab), target)
        conn, facts = opener(*args)
        pipe.send(("ok", facts))
        while True:
            try:
                message = pipe.recv()
            except EOFError:
                break
            if message[0] == "close":
                break
            _, fn, fargs = message
            try:
                pipe.send(("ok", fn(conn, *fargs)))
            except BaseException as exc:  # noqa: BLE001 - handed to the parent
                pipe.send(_describe(exc))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent
        try:
            pipe.send(_describe(exc))
        except (OSError, ValueError):
            pass
    finally:
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - the worker ends anyway
                pass


class RemoteSession:
    """A driver connection living in a Kerberos worker process, driven from the parent."""

    def __init__(self, process: Any, pipe: Connection, deadline: Deadline, what: str) -> None:
        self.process = process
        self.pipe = pipe
        self.deadline = deadline
        self.what = what
        self.facts: Any = None
        self._lock = threading.Lock()

    def _reply(self, stage: str) -> Any:
        remaining = self.deadline.remaining()
        try:
            ready = self.pipe.poll(remaining)
        except (OSError, EOFError):
            ready = True
        if not ready:
            self.kill()
            raise self.deadline.timeout_failure(self.what, stage)
        try:
            reply = self.pipe.recv()
        except (EOFError, OSError):
            self.kill()
            raise Failure(Code.UNEXPECTED_ERROR, "The Kerberos worker process ended unexpectedly.", stage=stage) from None
        return _raise(reply)

    def call(self, fn: Callable[..., Any], *args: Any, stage: str = "query") -> Any:
        """``fn(connection, *args)`` in the worker (``fn`` must be a module-level function)."""
        with self._lock:
            try:
                self.pipe.send(("call", fn, args))
            except (OSError, ValueError):
                raise Failure(Code.UNEXPECTED_ERROR, "The Kerberos worker process is gone.", stage=stage) from None
            return self._reply(stage)

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        threading.Thread(target=self.process.join, args=(2,), daemon=True).start()

    def close(self) -> None:
        """Ask the worker to close the connection and end; kill it if it has not within a second."""
        try:
            self.pipe.send(("close",))
        except (OSError, ValueError):
            pass

        def reap() -> None:
            self.process.join(1)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(1)
            self.pipe.close()

        threading.Thread(target=reap, daemon=True).start()


def open_session(
    login: KerberosLogin,
    deadline: Deadline,
    opener: Opener,
    args: tuple[Any, ...],
    *,
    target: str | None,
    what: str,
    preload: tuple[str, ...] = (),
) -> RemoteSession:
    """Start a worker with ``login``'s Kerberos environment, check the login, and open the connection.

    ``target`` (``service@host``) is checked by the preflight; ``opener(*args)`` opens the connection in
    the worker. Blocks until the connection is open or the deadline passes (then the worker is killed).
    """
    env = {"KRB5CCNAME": f"MEMORY:wizard-{os.getpid()}", "KRB5_CLIENT_KTNAME": f"FILE:{login.keytab}"}
    if login.krb5_config:
        env["KRB5_CONFIG"] = login.krb5_config
    context = _context((opener.__module__, *preload))
    parent, child = context.Pipe()
    process = context.Process(target=_worker, args=(child, env, login, target, opener, args), daemon=True,
                              name="wizard-kerberos")
    process.start()
    child.close()
    session = RemoteSession(process, parent, deadline, what)
    try:
        session.facts = session._reply("authentication")
    except BaseException:  # whatever ends the wait (a cancel included): end the worker process, re-raise
        session.kill()
        raise
    return session

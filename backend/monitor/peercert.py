"""The server certificate libpq received in its TLS handshake, for its end of validity.

psycopg2 tells the TLS version and cipher (``conn.info.ssl_attribute``) but not the peer
certificate. libpq hands out its OpenSSL ``SSL*`` (``PQsslStruct(conn, "OpenSSL")``); from it
``SSL_get1_peer_certificate`` gives the certificate of the handshake this very connection made,
which ``i2d_X509`` encodes as DER. The libraries are the ones already loaded in the process (found
in ``/proc/self/maps``: libpq, and the libssl and libcrypto beside it, e.g. in psycopg2-binary's
bundled folder), so the ``SSL*`` is read by the OpenSSL that made it. Anything unexpected (another
platform, another OpenSSL): None, and the expiry is left out, never guessed.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import Any

from backend.hooks import tls

_lock = threading.Lock()
_libs: tuple[Any, Any, Any] | bool | None = False  # False: not looked for yet


def _loaded_paths() -> list[Path]:
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return []
    return list(dict.fromkeys(Path(line.split()[-1]) for line in lines if line.count("/") and ".so" in line))


def _find() -> tuple[Any, Any, Any] | None:
    paths = _loaded_paths()
    libpq = next((p for p in paths if p.name.startswith("libpq")), None)
    if libpq is None:
        return None

    def beside(prefix: str) -> Path | None:
        same = [p for p in paths if p.name.startswith(prefix) and p.parent == libpq.parent]
        others = [p for p in paths if p.name.startswith(prefix)]
        found = same or others
        return found[0] if found else None

    libssl, libcrypto = beside("libssl"), beside("libcrypto")
    if libssl is None or libcrypto is None:
        return None
    pq, ssl_lib, crypto = ctypes.CDLL(str(libpq)), ctypes.CDLL(str(libssl)), ctypes.CDLL(str(libcrypto))
    pq.PQsslStruct.restype = ctypes.c_void_p
    pq.PQsslStruct.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    get_peer = getattr(ssl_lib, "SSL_get1_peer_certificate", None) or ssl_lib.SSL_get_peer_certificate
    get_peer.restype = ctypes.c_void_p
    get_peer.argtypes = [ctypes.c_void_p]
    crypto.i2d_X509.restype = ctypes.c_int
    crypto.i2d_X509.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))]
    crypto.X509_free.argtypes = [ctypes.c_void_p]
    crypto.CRYPTO_free.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    return pq, get_peer, crypto


def libs() -> tuple[Any, Any, Any] | None:
    global _libs
    with _lock:
        if _libs is False:
            try:
                _libs = _find()
            except (OSError, AttributeError):
                _libs = None
        return _libs if isinstance(_libs, tuple) else None


def libpq_not_after(conn: Any) -> str | None:
    """The end of validity (ISO 8601 UTC) of the certificate the server of this psycopg2 connection
    showed in its TLS handshake; None when it cannot be read."""
    found = libs()
    pgconn = getattr(conn, "pgconn_ptr", None)
    if found is None or not pgconn:
        return None
    pq, get_peer, crypto = found
    ssl_ptr = pq.PQsslStruct(ctypes.c_void_p(pgconn), b"OpenSSL")
    if not ssl_ptr:
        return None
    cert = get_peer(ssl_ptr)
    if not cert:
        return None
    try:
        buffer = ctypes.POINTER(ctypes.c_ubyte)()
        size = crypto.i2d_X509(cert, ctypes.byref(buffer))
        if size <= 0 or not buffer:
            return None
        der = ctypes.string_at(buffer, size)
        crypto.CRYPTO_free(buffer, b"", 0)
    finally:
        crypto.X509_free(cert)
    return tls.not_after_of(der)

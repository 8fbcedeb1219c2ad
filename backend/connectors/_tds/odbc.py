"""ODBC drivers for TDS: which one pyodbc loads, and connection strings that arrive intact."""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from backend.connectors.sql import Driver
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure

if TYPE_CHECKING:
    from sqlalchemy.engine import URL  # imported where used: the registry loads without SQLAlchemy

FREETDS_LIBRARIES: tuple[str, ...] = (
    "/usr/lib/*/odbc/libtdsodbc.so",  # Debian/Ubuntu package tdsodbc (multiarch)
    "/usr/lib/odbc/libtdsodbc.so",
    "/usr/lib64/libtdsodbc.so*",  # Fedora/RHEL package freetds
    "/usr/local/lib/libtdsodbc.so",
    "/opt/homebrew/lib/libtdsodbc.so",  # Homebrew freetds
    "/usr/local/opt/freetds/lib/libtdsodbc.so",
)
"""Where FreeTDS's ODBC driver is installed, in order of preference (glob patterns)."""
MICROSOFT_DRIVERS = ("ODBC Driver 18 for SQL Server", "ODBC Driver 17 for SQL Server")


@dataclass(frozen=True)
class OdbcDriver:
    """The ODBC driver pyodbc will load."""

    name: str
    """What goes in ``DRIVER={…}``: an absolute library path, or a name registered in odbcinst.ini."""
    freetds: bool
    version: tuple[int, int] | None = None
    """FreeTDS's version when it can be read from the library (its connection-string parser changed)."""


def registered_odbc_drivers() -> list[str]:
    """The drivers unixODBC knows (odbcinst.ini); none when pyodbc or unixODBC is missing."""
    try:
        import pyodbc
    except ImportError:
        return []
    try:
        return [str(name) for name in pyodbc.drivers()]
    except Exception:  # noqa: BLE001 - a broken unixODBC setup is the same as no driver
        return []


@lru_cache(maxsize=8)
def _freetds_version(path: str) -> tuple[int, int] | None:
    """FreeTDS's version from the banner compiled into its library ("freetds v1.3.17")."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    match = re.search(rb"freetds v(\d+)\.(\d+)", data)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_odbc_driver(*, microsoft: bool) -> OdbcDriver | None:
    """FreeTDS by its library path, else a registered FreeTDS, else (SQL Server only) Microsoft's driver."""
    for pattern in FREETDS_LIBRARIES:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return OdbcDriver(path, True, _freetds_version(path))
    registered = registered_odbc_drivers()
    if "FreeTDS" in registered:
        return OdbcDriver("FreeTDS", True)
    if microsoft:
        for name in MICROSOFT_DRIVERS:
            if name in registered:
                return OdbcDriver(name, False)
    return None


@dataclass(frozen=True)
class OdbcProtocolDriver(Driver):
    """pyodbc, which is only usable with an ODBC driver for the database behind it."""

    microsoft: bool = False
    """Microsoft's ODBC Driver for SQL Server is an alternative to FreeTDS (SQL Server only)."""
    install_hint: str = "the FreeTDS ODBC driver (Debian/Ubuntu: apt-get install tdsodbc unixodbc)"

    def python_installed(self) -> bool:
        return super().installed()

    def installed(self) -> bool:
        return self.python_installed() and find_odbc_driver(microsoft=self.microsoft) is not None

    def odbc_driver(self) -> OdbcDriver | None:
        return find_odbc_driver(microsoft=self.microsoft)


def odbc_value(value: str, driver: OdbcDriver, field_name: str) -> str:
    """One value of an ODBC connection string, quoted so that any character arrives intact.

    A plain value runs up to the next ``;``: every parser (unixODBC, FreeTDS, Microsoft's driver)
    takes it verbatim, whatever ``}``, ``=``, ``@``, ``%`` or spaces it holds. A value with ``;``
    or a leading ``{`` needs braces; ODBC doubles a ``}`` inside them
    (https://learn.microsoft.com/en-us/sql/odbc/reference/syntax/sqldriverconnect-function,
    "Comments"), but FreeTDS before 1.4 does not undouble it: it ends a braced value at the first
    ``};`` and keeps every other ``}`` as it is (src/odbc/connectparams.c of FreeTDS 1.3). Checked
    against the real driver by tests/connectors/test_mssql.py (the fake server decodes the login).
    """
    if "\x00" in value:
        raise Failure(Code.INVALID_PARAMETERS, f"{field_name} contains a NUL character.",
                      fields={field_name: "A NUL character cannot be sent to the server."}, stage="parameters")
    if ";" not in value and not value.startswith("{"):
        return value
    if "}" not in value:
        return "{" + value + "}"
    if driver.freetds and driver.version is not None and driver.version < (1, 4):
        if "};" in value:
            raise Failure(
                Code.INVALID_PARAMETERS,
                f"The FreeTDS {driver.version[0]}.{driver.version[1]} ODBC driver cannot take a {field_name} containing '}};'.",
                fields={field_name: "This FreeTDS version cannot pass '};' in this value: use the protocol "
                                    "mssql+pymssql, or a newer FreeTDS (1.4 or later)."},
                stage="parameters",
            )
        return "{" + value + "}"
    return "{" + value.replace("}", "}}") + "}"


def odbc_connection_string(attributes: list[tuple[str, str]], driver: OdbcDriver, secret_keys: frozenset[str]) -> str:
    """``DRIVER={…};KEY=value;…`` with every value quoted by :func:`odbc_value`."""
    parts = ["DRIVER={" + driver.name.replace("}", "}}") + "}"]
    for key, value in attributes:
        parts.append(f"{key}={odbc_value(value, driver, 'password' if key in secret_keys else key.lower())}")
    return ";".join(parts) + ";"


@lru_cache(maxsize=4)
def _odbc_connect_is_unquoted(drivername: str) -> bool:
    """Whether this SQLAlchemy's pyodbc dialect URL-unquotes ``odbc_connect`` (2.0 does, 2.1 does not, issue #11250)."""
    from sqlalchemy.engine import URL

    url = URL.create(drivername, query={"odbc_connect": "a+b%41"})
    dialect_cls = url.get_dialect()
    dialect = dialect_cls()
    (connection_string,), _ = dialect.create_connect_args(url)
    return bool(connection_string != "a+b%41")


def odbc_url(drivername: str, connection_string: str) -> URL:
    """The SQLAlchemy URL that hands ``connection_string`` to pyodbc verbatim (``odbc_connect``)."""
    value = quote_plus(connection_string) if _odbc_connect_is_unquoted(drivername) else connection_string
    from sqlalchemy.engine import URL

    return URL.create(drivername, query={"odbc_connect": value})

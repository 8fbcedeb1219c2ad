"""TDS driver errors: what their SQLSTATEs and numbers say, and the rules of the servers' messages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from backend.core.rules import ErrorFacts, ErrorRule, match, one_line
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure

# Server messages, by number. SQL Server: the Database Engine events and errors reference
# (https://learn.microsoft.com/en-us/sql/relational-databases/errors-events/database-engine-events-and-errors,
# and mssqlserver-18456-database-engine-error: the client always sees state 1, the reason is in the
# server's log). Sybase ASE: 4002 is its generic "Login failed" (Security Administration Guide,
# https://infocenter.sybase.com/help/topic/com.sybase.infocenter.dc31654.1550/html/sag1/BABEAIIJ.htm);
# 911, 4001 and 10351 as in ASE's error message reference ("Troubleshooting: Error Messages").
# SQL Server sends no SQLSTATE in TDS and FreeTDS makes up its own (42000 for a failed login), so
# the number decides.
SERVER_RULES: tuple[ErrorRule, ...] = (
    # MSSQLSERVER_18456: "Login failed for user" (the state, logged only on the server, tells why)
    ErrorRule(Code.AUTHENTICATION_FAILED, number=18456,
              fields={"password": "The server refused this user name and password.",
                      "username": "Check the user name too (a SQL Server login, not a Windows account)."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, number=18452, fields={"username": "The server accepts only Windows (integrated) logins here."}),
    ErrorRule(Code.PERMISSION_DENIED, number=18470, fields={"username": "This login is disabled on the server."}),
    ErrorRule(Code.PERMISSION_DENIED, number=18486, fields={"username": "This login is locked out after too many failed attempts."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, number=18487, fields={"password": "The password of this login has expired."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, number=18488, fields={"password": "The password of this login must be changed first."}),
    ErrorRule(Code.AUTHENTICATION_FAILED, number=40532, fields={"username": "Azure SQL: the server name in the login (user@server) is wrong."}),
    ErrorRule(Code.PERMISSION_DENIED, number=40615, fields={"host": "Azure SQL's firewall does not admit the wizard's address."}),
    # 4060: "Cannot open database "%.*ls" requested by the login. The login failed." SQL Server
    # sends it both for a missing database and for one the login has no user in.
    ErrorRule(Code.DATABASE_NOT_FOUND, number=4060,
              fields={"database": "No database of this name, or this login may not open it (SQL Server does not say which)."}),
    ErrorRule(Code.DATABASE_NOT_FOUND, number=4064, fields={"database": "The login's default database cannot be opened."}),
    # SQL Server 911: "Database '%.*ls' does not exist"; ASE 911: no entry in sysdatabases
    ErrorRule(Code.DATABASE_NOT_FOUND, number=911, fields={"database": "No database of this name on the server."}),
    ErrorRule(Code.PERMISSION_DENIED, number=916, fields={"database": "This login may not access this database."}),
    # Sybase ASE
    ErrorRule(Code.AUTHENTICATION_FAILED, number=4002,
              fields={"password": "The server refused this user name and password.", "username": "Check the user name too."}),
    ErrorRule(Code.DATABASE_NOT_FOUND, number=4001, fields={"database": "The login's default database cannot be opened."}),
    ErrorRule(Code.PERMISSION_DENIED, number=10351, fields={"database": "This login is not a user of this database."}),
    # query stage
    ErrorRule(Code.SCHEMA_NOT_FOUND, number=2760, fields={"schema_name": "No schema of this name, or this user may not use it."}),
    ErrorRule(Code.PERMISSION_DENIED, number=229, fields={"schema_name": "This user lacks a permission the test query needs."}),
    ErrorRule(Code.PERMISSION_DENIED, number=230, fields={"schema_name": "This user lacks a permission the test query needs."}),
)
SERVER_NUMBERS = frozenset(rule.number for rule in SERVER_RULES)


_PRECEDENCE = {4060: 0, 4064: 0, 911: 0, 916: 0, 10351: 0, 4001: 0}
"""Server messages that say more than the 'login failed' they come with."""
SUMMARY = {
    4060: "SQL Server cannot open the database requested by the login (error 4060), so the login failed.",
    4064: "SQL Server cannot open the login's default database (error 4064), so the login failed.",
    916: "This login may not access the database (error 916).",
}
"""What a message says, for the messages the driver hid behind 'login failed' (seen by the relay)."""


def server_number(numbers: list[int]) -> int | None:
    """The server message that decides the verdict: the most specific one, else the first."""
    server = [n for n in numbers if n in SERVER_NUMBERS]
    if not server:
        return None
    return min(server, key=lambda n: (_PRECEDENCE.get(n, 9), server.index(n)))


def server_failure(number: int, text: str, *, login: bool) -> Failure:
    """The verdict of server message ``number`` (one of :data:`SERVER_NUMBERS`); at the test query when not ``login``."""
    rule = match(ErrorFacts(text, numbers=(number,)), SERVER_RULES)
    assert rule is not None, number
    failure = rule.failure(text)
    if not login:
        failure.stage = "query"
    return failure


# FreeTDS's own error numbers (TDSERRNO in include/freetds/tds.h, the same in db-lib and ODBC).
TDSEFCON, TDSETIME, TDSEREAD, TDSEWRIT, TDSESOCK, TDSECONN = 20002, 20003, 20004, 20006, 20008, 20009
TDSEINTF, TDSEUHST, TDSEPWD, TDSESEOF, TDSEBTOK, TDSEUTDS, TDSESYNC = 20012, 20013, 20014, 20017, 20020, 20146, 20001
HANDSHAKE_BROKEN = {TDSEFCON, TDSEREAD, TDSEWRIT, TDSESEOF, TDSEBTOK, TDSEUTDS, TDSESYNC}

# ODBC SQLSTATEs (https://learn.microsoft.com/en-us/sql/odbc/reference/appendixes/appendix-a-odbc-error-codes)
SQLSTATE_TIMEOUT = {"HYT00", "HYT01"}  # timeout expired, connection timeout expired
SQLSTATE_NO_DRIVER = {"IM002", "IM003"}  # no data source or driver; driver could not be loaded
SQLSTATE_LINK = {"08001", "08S01", "08004"}  # cannot connect; link failure; server rejected the connection
SQLSTATE_AUTH = {"28000"}  # invalid authorization specification (Microsoft's driver, 18456)

_PYODBC_RECORD = re.compile(r"\[(?P<state>[0-9A-Z]{5})\](?P<text>.*?)\((?P<native>-?\d+)\) \(SQL\w+\)", re.S)
_DBLIB_NUMBER = re.compile(r"(?:DB-Lib error message|SQL Server message|Msg) (\d+)")
_NET_ERRNO = re.compile(r"Net-Lib error during .*?\((\d+)\)")


@dataclass
class DriverError:
    """What a driver error says, read from its structure (SQLSTATEs, numbers), not its prose."""

    sqlstates: list[str]
    numbers: list[int]
    os_errno: int | None
    text: str
    driver_manager: bool = False
    """The message comes from unixODBC itself (its "[Driver Manager]" component tag), not the driver."""


def parse_driver_error(exc: BaseException) -> DriverError:
    """pyodbc: ``args = (sqlstate, "[state] … (native) (SQLFunction); …")``;
    pymssql: ``args = ((number, b"DB-Lib error message N …\\nSQL Server message N …"),)``;
    _mssql: ``.number``/``.text`` attributes."""
    args = exc.args
    sqlstates: list[str] = []
    numbers: list[int] = []
    os_errno: int | None = None
    if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):  # pyodbc
        text = args[1]
        sqlstates.append(args[0])
        for match in _PYODBC_RECORD.finditer(text):
            sqlstates.append(match.group("state"))
            native = int(match.group("native"))
            if native:
                numbers.append(native)
        clean = re.sub(r"\[[0-9A-Z]{5}\]\s*|\[FreeTDS\]|\[SQL Server\]|\[unixODBC\]|\[Microsoft\]|"
                       r"\[Driver Manager\]|\(SQL\w+\)", "", text)
        return DriverError(list(dict.fromkeys(sqlstates)), numbers, None, one_line(clean),
                           driver_manager="[Driver Manager]" in text)
    payload = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
    if len(payload) >= 2 and isinstance(payload[0], int):  # pymssql
        raw = payload[1]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        # The first number is the most severe message's (a server error such as 18456, or db-lib's own).
        # pymssql keeps the last server message in process-wide variables when no connection came
        # about, so a number with no server text before db-lib's own lines is a stale one: dropped.
        dblib = text.find("DB-Lib error message")
        # db-lib's 20018 ("General SQL Server error: Check messages from the SQL Server") says that
        # this login did receive a server message.
        fresh = (payload[0] >= 20000 or "DB-Lib error message 20018," in text
                 or (dblib != 0 and text[:dblib if dblib > 0 else len(text)].strip() != ""))
        numbers = list(dict.fromkeys([*([payload[0]] if fresh else []), *(int(n) for n in _DBLIB_NUMBER.findall(text))]))
        errno_match = _NET_ERRNO.search(text)
        os_errno = int(errno_match.group(1)) if errno_match else None
        readable = re.sub(r"DB-Lib error message \d+, severity \d+:\s*", "\n", text)
        lines = [ln.strip() for ln in readable.splitlines() if ln.strip()]
        return DriverError([], numbers, os_errno, one_line("\n".join(dict.fromkeys(lines))))
    number = getattr(exc, "number", None)
    if isinstance(number, int):
        return DriverError([], [number], None, one_line(str(getattr(exc, "text", "") or exc)))
    return DriverError([], [], None, one_line(str(exc)) or type(exc).__name__)

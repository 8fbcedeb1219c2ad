"""The database servers the bench measures against, each with the suite's awkward password."""

from __future__ import annotations

from typing import Any

from bench.measure import DB

NASTY_PASSWORD = "p@ss:w/rd#%?&= 'x\""
"""A password that breaks every URL built by string formatting (the suite's own)."""


def start_postgres(server: Any) -> DB:
    server.start()
    escaped = NASTY_PASSWORD.replace("'", "''")
    server.sql(f"CREATE ROLE wizard LOGIN PASSWORD '{escaped}'", "CREATE DATABASE appdb OWNER wizard",
               "REVOKE CONNECT ON DATABASE appdb FROM PUBLIC")
    return DB("PostgreSQL", server.port, "wizard", NASTY_PASSWORD, "appdb")


def start_mariadb(server: Any) -> DB:
    server.start()
    escaped = NASTY_PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
    server.sql("CREATE DATABASE appdb", f"CREATE USER 'wizard'@'%' IDENTIFIED BY '{escaped}'",
               "GRANT ALL ON appdb.* TO 'wizard'@'%'")
    return DB("MariaDB", server.port, "wizard", NASTY_PASSWORD, "appdb")

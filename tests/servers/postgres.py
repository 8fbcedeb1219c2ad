"""A PostgreSQL instance of the suite's own: initdb into a temp dir, scram-sha-256, its own port."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.servers.common import LOOPBACK, as_user, chown_tree, free_port, make_workdir, remove, run, wait_for_port

BIN = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
SUPERPASS = "Super-Secret-4-Tests"


@dataclass
class PostgresServer:
    """Start with :meth:`start`; ``hba`` lines come before the default password line."""

    conf: dict[str, str] = field(default_factory=dict)
    hba: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    """Extra files (certificates, keytabs) written into the data dir, owned by postgres, mode 0600."""
    port: int = 0
    host: str = LOOPBACK
    workdir: Path = Path()
    env: dict[str, str] = field(default_factory=dict)
    default_hba: bool = True
    """False: no catch-all ``host all all`` line, only ``hba`` (e.g. for a user that only a hostssl line admits)."""

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    def start(self) -> PostgresServer:
        self.workdir = make_workdir("pg", owner="postgres")
        self.port = self.port or free_port()
        pwfile = self.workdir / "pw"
        pwfile.write_text(SUPERPASS)
        chown_tree(self.workdir, "postgres")
        run(as_user("postgres", [
            str(BIN / "initdb"), "-D", str(self.datadir), "-U", SUPERUSER, "--pwfile", str(pwfile),
            "--auth=scram-sha-256", "--locale=C", "-E", "UTF8", "--no-sync",
        ]))
        pwfile.unlink()
        for name, content in self.files.items():
            path = self.datadir / name
            path.write_bytes(content)
            path.chmod(0o600)
        settings = {
            "listen_addresses": f"'{LOOPBACK}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.workdir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "16MB",
            "lc_messages": "'C'",
            "password_encryption": "'scram-sha-256'",
            **self.conf,
        }
        with (self.datadir / "postgresql.conf").open("a") as conf:
            for key, value in settings.items():
                conf.write(f"{key} = {value}\n")
        tail = [f"host all all {LOOPBACK}/32 scram-sha-256"] if self.default_hba else []
        hba = [*self.hba, *tail, "local all postgres scram-sha-256"]
        (self.datadir / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        chown_tree(self.workdir, "postgres")
        self.resume()
        return self

    def resume(self) -> None:
        """Start the server on its data dir (again, after :meth:`pause`); return once it listens."""
        run(as_user("postgres", [str(BIN / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.workdir / "log"),
                                 "-w", "-t", "60", "start"]), env={**os.environ, **self.env})
        wait_for_port(self.port)

    def pause(self) -> None:
        """Stop the server (connections are refused) but keep its data: :meth:`resume` starts it again."""
        run(as_user("postgres", [str(BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"]))

    def stop(self) -> None:
        if self.workdir != Path():
            subprocess.run(as_user("postgres", [str(BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate",
                                                "-w", "stop"]), capture_output=True, timeout=60)
            remove(self.workdir)

    def sql(self, *statements: str, database: str = "postgres") -> None:
        """Run statements as the superuser."""
        import psycopg2

        conn = psycopg2.connect(host=LOOPBACK, port=self.port, user=SUPERUSER, password=SUPERPASS,
                                dbname=database, connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

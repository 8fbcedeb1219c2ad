"""A MariaDB instance of the suite's own: mariadb-install-db + mariadbd --defaults-file."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.servers.common import LOOPBACK, ServerProcess, free_port, is_root, make_workdir, run

ROOTPASS = "Root-Secret-4-Tests"


@dataclass
class MariaDBServer(ServerProcess):
    conf: dict[str, str] = field(default_factory=dict)
    stop_timeout = 30.0

    def start(self) -> MariaDBServer:
        self.workdir = make_workdir("mariadb")
        self.port = self.port or free_port()
        datadir = self.workdir / "data"
        user = ["--user=root"] if is_root() else []
        settings = {
            "datadir": str(datadir),
            "port": str(self.port),
            "bind-address": LOOPBACK,
            "socket": str(self.workdir / "sock"),
            "pid-file": str(self.workdir / "pid"),
            "log-error": str(self.workdir / "error.log"),
            "skip-name-resolve": "",
            "innodb_buffer_pool_size": "16M",
            "innodb_log_file_size": "8M",
            "innodb_flush_log_at_trx_commit": "0",
            "performance_schema": "OFF",
            "max_connections": "300",
            "lc_messages": "en_US",
            **self.conf,
        }
        cnf = self.workdir / "my.cnf"
        lines = ["[mariadbd]"] + [f"{k}={v}" if v != "" else k for k, v in settings.items()]
        cnf.write_text("\n".join(lines) + "\n")
        run(["mariadb-install-db", f"--defaults-file={cnf}", *user, "--auth-root-authentication-method=normal",
             "--skip-test-db"])
        self.spawn(["mariadbd", f"--defaults-file={cnf}", *user], log="mariadbd.out", timeout=60)
        self.sql(f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{ROOTPASS}'", socket=True, password="")
        return self

    def sql(self, *statements: str, socket: bool = True, password: str = ROOTPASS) -> None:
        import pymysql

        kwargs = {"unix_socket": str(self.workdir / "sock")} if socket else {"host": LOOPBACK, "port": self.port}
        conn = pymysql.connect(user="root", password=password, connect_timeout=10, autocommit=True, **kwargs)
        try:
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

"""A Redis server of the suite's own (``redis-server``): loopback only, its own port, no disk, a password.

For the per-user test rate limit shared between API processes (``WIZARD_RATE_LIMIT_STORAGE_URL``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from tests.servers.common import LOOPBACK, ServerProcess, free_port, make_workdir

PASSWORD = "Redis-Secret-4-Tests"


@dataclass
class RedisServer(ServerProcess):
    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.workdir = make_workdir("redis")
        self.port = free_port()
        conf = self.workdir / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    f"bind {LOOPBACK}",
                    f"port {self.port}",
                    "protected-mode yes",
                    f"requirepass {PASSWORD}",
                    f"dir {self.workdir}",
                    'save ""',
                    "appendonly no",
                    "daemonize no",
                    "loglevel warning",
                ]
            )
            + "\n"
        )
        self.spawn([binary, str(conf)], timeout=30)
        return self

    @property
    def url(self) -> str:
        """The ``limits`` storage URL of this server (password included)."""
        return f"redis://:{PASSWORD}@{LOOPBACK}:{self.port}/0"

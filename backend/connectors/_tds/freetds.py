"""The wizard's own ``freetds.conf``: one section per running test, made on first use."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from backend.ops import shutdown


class FreeTDSConfig:
    """A ``freetds.conf`` of the wizard's own with one section per running test.

    ``FREETDSCONF`` is set once, by :func:`freetds_config` at the first test (before its driver
    thread runs), for the whole process: FreeTDS reads the first file that holds the requested section, so
    connections made by others are not affected. The directory (0700, an unguessable name) is
    made when a test needs it and removed when no test does (and at shutdown). Sections are
    rewritten atomically (a new file renamed over the old one), so a driver reading it never
    sees half a file.
    """

    def __init__(self) -> None:
        self.dir = Path(tempfile.gettempdir()) / f"wizard-freetds-{os.getpid()}-{secrets.token_hex(8)}"
        self.path = self.dir / "freetds.conf"
        self._sections: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self._made = False

    def add(self, settings: dict[str, str]) -> str:
        """A new section with ``settings``; returns its name (``Servername`` for ODBC, ``server`` for pymssql)."""
        for key, value in settings.items():
            if any(c in value for c in "\n\r;#[]") or any(c in key for c in "\n\r;#[]="):
                raise Failure(Code.INVALID_PARAMETERS, f"FreeTDS cannot take the setting {key!r} = {value!r}.",
                              stage="parameters")
        name = f"wizard_{secrets.token_hex(8)}"
        with self._lock:
            self._sections[name] = dict(settings)
            self._write()
        return name

    def remove(self, name: str) -> None:
        """Drop a test's section; with the last one, the folder goes too (nothing outlives the tests)."""
        with self._lock:
            if self._sections.pop(name, None) is not None:
                if self._sections:
                    self._write()
                else:
                    self._discard()

    def discard(self) -> None:
        """Remove the folder while no test uses it (at shutdown); the next test makes it again."""
        with self._lock:
            if not self._sections:
                self._discard()

    def _discard(self) -> None:
        if self._made:
            shutil.rmtree(self.dir, ignore_errors=True)
            self._made = False

    def _write(self) -> None:
        if not self._made:
            os.mkdir(self.dir, 0o700)  # fails if the name was taken: never write into someone else's folder
            self._made = True
        lines = ["# Written by the Connection Wizard: one section per running connection test.\n"]
        for name, settings in self._sections.items():
            lines.append(f"[{name}]\n")
            lines.extend(f"\t{key} = {value}\n" for key, value in settings.items())
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".freetds-", suffix=".conf")
        with os.fdopen(fd, "w") as handle:
            handle.writelines(lines)
        os.replace(tmp, self.path)


_CONFIG: FreeTDSConfig | None = None
_CONFIG_LOCK = threading.Lock()


def freetds_config() -> FreeTDSConfig:
    """The process's FreeTDS configuration, made at the first test that needs it.

    Only then is ``FREETDSCONF`` set (importing the connectors changes nothing in the process's
    environment), and before any driver thread of that test runs: FreeTDS reads the variable when
    it connects.
    """
    global _CONFIG
    with _CONFIG_LOCK:
        if _CONFIG is None:
            config = FreeTDSConfig()
            shutdown.on_shutdown(config.discard)  # at the app's shutdown (uvicorn's SIGTERM skips atexit) and at exit
            os.environ["FREETDSCONF"] = str(config.path)
            _CONFIG = config
        return _CONFIG

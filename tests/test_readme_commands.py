"""The README's commands work as printed, in the project's venv, on a fresh working folder.

Each shell block of the sections below is read from README.md and run line by line with bash, as a
newcomer would after ``. .venv/bin/activate`` (``.venv/bin`` first on ``PATH``), in a temporary
working folder with a store of its own. An example aimed at an example host runs against one of the
suite's servers with only the host (and port) replaced; every line must end with the exit status
the README documents. A README line that this table does not know fails the test: a new example
comes with its expectation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import DB
from tests.helpers import ROOT, auth_settings, login
from tests.servers.common import LOOPBACK, free_port

README = (ROOT / "README.md").read_text()
VENV_BIN = ROOT / ".venv" / "bin"
ADMIN_PASSWORD = "Readme-Admin-Pw-1"
ALICE_PASSWORD = "Readme-Alice-Pw-2"
ETL_PASSWORD = "Readme-Etl-Pw-3"


def blocks(section: str) -> list[str]:
    """The lines of the ``sh`` blocks of a section (``##`` or ``###``; continuation lines joined)."""
    match = re.search(rf"\n(#+) {re.escape(section)}\n", README)
    assert match, f"no section {section!r} in README.md"
    start = match.end()
    following = re.compile(rf"\n#{{2,{len(match.group(1))}}} ").search(README, start)
    text = README[start : following.start() if following else None]
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                lines.append(line.strip())
    return lines


@dataclass(frozen=True)
class Expect:
    status: int
    json_out: bool = False
    says: str | None = None
    """Something standard output must hold (the verdict's code, say)."""


# Every line of the blocks, in README order, with the exit status the README documents for it.
QUICK_START = {
    "make run     # installs what is missing, then starts the wizard: http://127.0.0.1:8501": None,
    "make test    # installs what is missing, then runs the whole test suite": None,
    ". .venv/bin/activate": Expect(0),
}
ADMIN = {
    "printf '%s\\n' \"$PASSWORD\" | python -m backend users add alice    # the password: one line of standard input": Expect(0),
    "printf '%s\\n' \"$PASSWORD\" | python -m backend users set-password alice   # also ends her sessions": Expect(0),
    "python -m backend users list": Expect(0, says="alice"),
    "python -m backend users remove alice      # with her sessions and her saved connections": Expect(0),
    "python -m backend secrets rotate          # re-encrypt every secret with the first key (exit 1: some no key decrypts)": Expect(0),
    "python -m backend secrets check --strict  # how many secrets each key decrypts (--json: one object); exit 1: some": Expect(0),
    "python -m backend db upgrade              # apply the migrations (also done at start)": Expect(0),
}
COMMAND_LINE = {
    "WIZARD_TEST_PASSWORD=\"$DB_PASSWORD\" connection-wizard test --uri 'postgresql://etl@db.example.com:5432/sales'": Expect(0, says="CONNECTION_SUCCESSFUL"),
    "connection-wizard test --body connection.json --json        # exactly the ApplicationMessage": Expect(0, json_out=True),
    # The Databricks example, aimed at a closed loopback port instead of a workspace: PORT_CLOSED.
    "printf '%s\\n' \"$TOKEN\" | connection-wizard test --uri 'jdbc:databricks://adb-1.2.azuredatabricks.net:443/default;ConnCatalog=main;httpPath=/sql/1.0/warehouses/abc' --password-stdin": Expect(1, says="PORT_CLOSED"),
    "connection-wizard test --saved \"Sales warehouse\" --user admin": Expect(0, says="CONNECTION_SUCCESSFUL"),
}


@pytest.fixture(scope="module")
def etl(postgres: DB) -> DB:
    """The README's ``etl`` user and ``sales`` database, on the suite's PostgreSQL."""
    postgres.server.sql(f"CREATE ROLE etl LOGIN PASSWORD '{ETL_PASSWORD}'", "CREATE DATABASE sales OWNER etl")
    return DB(postgres.host, postgres.port, "etl", ETL_PASSWORD, "sales", postgres.server)


@pytest.fixture
def workdir(tmp_path: Path, etl: DB) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh working folder, the environment the README states, and a saved "Sales warehouse"."""
    store = tmp_path / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_") and k != "PYTHONPATH"}
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        VIRTUAL_ENV=str(VENV_BIN.parent),
        WIZARD_DATABASE_URL=f"sqlite:///{store}/wizard.db",
        WIZARD_ADMIN_PASSWORD=ADMIN_PASSWORD,
        WIZARD_FILES_DIR=str(tmp_path / "files"),
        WIZARD_TEST_TIMEOUT_S="5",
        PASSWORD=ALICE_PASSWORD,
        DB_PASSWORD=ETL_PASSWORD,
        TOKEN="dapi-readme-token",
    )
    (tmp_path / "connection.json").write_text(json.dumps(etl.body("PostgreSQLConnector")))
    settings = auth_settings(tmp_path, database_url=env["WIZARD_DATABASE_URL"], admin_password=ADMIN_PASSWORD)
    with TestClient(create_app(settings)) as client:
        csrf = login(client, "admin", ADMIN_PASSWORD)
        saved = client.post("/api/v1/database_connections/", headers={"X-CSRF-Token": csrf},
                            json={"name": "Sales warehouse", "description": None,
                                  "connection": etl.body("PostgreSQLConnector")})
        assert saved.status_code == 201, saved.text
    yield tmp_path, env


def localised(line: str, etl: DB, closed: int) -> str:
    """The line with its example hosts replaced by the suite's servers (nothing else changes)."""
    return (line.replace("db.example.com:5432", f"{etl.host}:{etl.port}")
                .replace("adb-1.2.azuredatabricks.net:443", f"{LOOPBACK}:{closed}"))


def run_lines(table: Mapping[str, Expect | None], section: str, workdir: tuple[Path, dict[str, str]], etl: DB) -> None:
    printed = blocks(section)
    assert printed == [line for line in table if line in printed] and set(printed) == set(table), (
        "the README's lines and this test's table differ", printed)
    folder, env = workdir
    closed = free_port()
    for line in printed:
        expect = table[line]
        if expect is None:  # make run / make test: the suite itself, not to be run from inside it
            continue
        command = f". {VENV_BIN}/activate\n{line}" if not line.startswith(". .venv") else \
            line.replace(". .venv/bin/activate", f". {VENV_BIN}/activate && command -v connection-wizard")
        done = subprocess.run(["bash", "-c", localised(command, etl, closed)], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert done.returncode == expect.status, (line, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (line, done.stderr)
        if expect.says:
            assert expect.says in done.stdout, (line, done.stdout)
        if expect.json_out:
            assert json.loads(done.stdout)["code"] == "CONNECTION_SUCCESSFUL"


def test_quick_start_commands(workdir: tuple[Path, dict[str, str]], etl: DB) -> None:
    run_lines(QUICK_START, "Quick start", workdir, etl)
    makefile = (ROOT / "Makefile").read_text()
    assert "\nrun: setup\n" in makefile and "\ntest: setup\n" in makefile


def test_administration_commands(workdir: tuple[Path, dict[str, str]], etl: DB) -> None:
    run_lines(ADMIN, "Administration", workdir, etl)


def test_command_line_examples(workdir: tuple[Path, dict[str, str]], etl: DB) -> None:
    run_lines(COMMAND_LINE, "Command line", workdir, etl)

"""The README's API examples run as printed: "The API" and "Saved connections" (Administration apart:
tests/test_readme_commands.py runs it).

Each ``sh`` block of those sections is read from README.md and run with bash, line by line in one
shell (the lines of a block share their variables, the cookie jar and ``$ID``), against the app
served by a real uvicorn on a loopback port, in a temporary working folder. An example aimed at an
example host runs against the suite's PostgreSQL with only the host and port replaced. As the README
says, the blocks after "Logging in" assume its first two lines (``API`` and ``TOKEN``): those lines,
read from the README too, open each of them. Every line must end with status 0 and print what the
table says; a README line that the table does not know fails the test: a new example comes with its
expectation.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.main import create_app
from tests.conftest import DB
from tests.helpers import ADMIN_PASSWORD, ROOT, JWKSServer, Keys, oidc_settings, sign
from tests.servers.api import serve

README = (ROOT / "README.md").read_text()
EXAMPLE_API = "http://127.0.0.1:8501"
DB_PASSWORD = "Readme-Api-Db-Pw-7"
MARK = "@@readme-line-status"


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of each Markdown heading of ``text``, those inside code fences left out."""
    found, fenced, offset = [], False, 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := re.match(r"(#+) (.*)", line)):
            found.append((offset, len(match.group(1)), match.group(2).strip()))
        offset += len(line)
    return found


def section_text(title: str, *, without: tuple[str, ...] = ()) -> str:
    """The text of a section, its subsections included but those named in ``without``."""
    headings = _headings(README)
    starts = [(i, level) for i, (_, level, name) in enumerate(headings) if name == title]
    assert len(starts) == 1, f"no section {title!r} (or more than one) in README.md"
    index, level = starts[0]
    parts: list[str] = []
    skipping_below: int | None = None
    for i in range(index, len(headings)):
        offset, sub_level, name = headings[i]
        if i > index and sub_level <= level:
            break
        if skipping_below is not None and sub_level <= skipping_below:
            skipping_below = None
        if name in without:
            skipping_below = sub_level
        end = headings[i + 1][0] if i + 1 < len(headings) else len(README)
        if skipping_below is None:
            parts.append(README[offset:end])
    assert all(any(name == n for _, _, n in headings) for name in without), without
    return "".join(parts)


def commands(block: str) -> list[str]:
    """The shell commands of a block as bash reads them: a command goes on across a newline inside quotes
    or after a backslash; comment lines are dropped (a comment after a command stays with it)."""
    found: list[str] = []
    current, quote, comment, escaped = "", "", False, False
    for i, char in enumerate(block):
        if comment:
            comment = char != "\n"
        elif escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or block[i - 1].isspace()):
            comment = True
        if char == "\n" and not quote and not escaped and not comment and not current.endswith("\\"):
            if current.strip() and not current.strip().startswith("#"):
                found.append(current.strip())
            current = ""
            continue
        current += char
    if current.strip() and not current.strip().startswith("#"):
        found.append(current.strip())
    return found


def blocks(title: str, *, without: tuple[str, ...] = ()) -> list[list[str]]:
    """Each ``sh`` block of the section as its commands."""
    return [commands(block) for block in re.findall(r"```sh\n(.*?)```", section_text(title, without=without), re.S)]


def squeeze(line: str) -> str:
    """A command on one line, its runs of blanks (continuation backslashes included) as one: the table's key."""
    return re.sub(r"(?:\s|\\\n)+", " ", line)


@dataclass(frozen=True)
class Expect:
    says: tuple[str, ...] = ()
    """What standard output must hold (a verdict's code, a key)."""
    silent: bool = False
    """Nothing on standard output (an assignment; a 204)."""


OK = '"code":"CONNECTION_SUCCESSFUL"'
# Every line of the two sections' blocks, in README order (blanks squeezed), with what it must print.
LINES: dict[str, Expect] = {
    # The API: logging in
    "API=http://127.0.0.1:8501/api # or http://127.0.0.1:8000/api with `make api`": Expect(silent=True),
    "TOKEN=$(curl -s -c jar -H 'content-type: application/json' -d '{\"username\": \"admin\", \"password\": \"'\"$PASSWORD\"'\"}' "
    "$API/v1/auth/ | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"csrf_token\"])')": Expect(silent=True),
    "curl -s -b jar $API/v1/database_connections/supported_types/": Expect(says=('"connectors":', '"PostgreSQLConnector"')),
    "curl -s -b jar -H \"X-CSRF-Token: $TOKEN\" -H 'content-type: application/json' -d '{\"connector_type\": "
    "\"PostgreSQLConnector\", \"host\": \"127.0.0.1\", \"port\": 5432, \"database\": \"appdb\", \"username\": \"app\", "
    "\"password\": \"'\"$DB_PASSWORD\"'\"}' $API/v1/database_connections/test/": Expect(says=(OK,)),
    "curl -s -b jar -H \"X-CSRF-Token: $TOKEN\" -X DELETE $API/v1/auth/": Expect(silent=True),  # 204
    # The API: a bearer token
    "curl -s -H \"Authorization: Bearer $JWT\" $API/v1/database_connections/supported_types/":
        Expect(says=('"connectors":', '"PostgreSQLConnector"')),
    # The API: live test timeline
    "curl -sN -b jar -H \"X-CSRF-Token: $TOKEN\" -H 'content-type: application/json' -d @body.json "
    "$API/v1/database_connections/test/stream/ # body.json: a connection body, as for test/":
        Expect(says=('{"event":"start"', '"event":"verdict"', OK)),
    # The API: live capabilities
    "curl -s -b jar -H \"X-CSRF-Token: $TOKEN\" -H 'content-type: application/json' -d '{\"connection\": "
    "{\"connector_type\": \"PostgreSQLConnector\", \"host\": \"127.0.0.1\", \"port\": 5432, \"database\": \"appdb\", "
    "\"username\": \"etl\", \"password\": \"'\"$DB_PASSWORD\"'\"}, \"schema\": \"sales\", \"write_probe\": false}' "
    "$API/v1/database_connections/capabilities/": Expect(says=('"verdict":', '"capabilities":', '"scope":')),
    "curl -s -b jar -H \"X-CSRF-Token: $TOKEN\" -H 'content-type: application/json' -d '{\"uri\": "
    "\"jdbc:sqlserver://sql.example.com:1433;databaseName=shop\"}' $API/v1/database_connections/parse_uri/":
        Expect(says=('"connector_type":"MsSQLConnector"', '"host":"sql.example.com"', '"database":"shop"')),
    # Saved connections
    "ID=$(curl -s -b jar -H \"X-CSRF-Token: $TOKEN\" -H 'content-type: application/json' -d '{\"name\": \"Sales warehouse\", "
    "\"description\": \"read-only\", \"connection\": {\"connector_type\": \"PostgreSQLConnector\", \"host\": \"db.example.com\", "
    "\"port\": 5432, \"database\": \"sales\", \"username\": \"etl\", \"password\": \"'\"$DB_PASSWORD\"'\"}}' "
    "$API/v1/database_connections/ | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"id\"])') "
    "# 201, the SavedConnection": Expect(silent=True),
    "curl -s -b jar -X POST -H \"X-CSRF-Token: $TOKEN\" $API/v1/database_connections/$ID/test/ # the verdict":
        Expect(says=(OK,)),
    "curl -s -b jar -X PATCH -H \"X-CSRF-Token: $TOKEN\" -H 'content-type: application/json' -d '{\"description\": "
    "\"read-only, nightly\"}' $API/v1/database_connections/$ID/ # 200, the SavedConnection":
        Expect(says=('"description":"read-only, nightly"', '"password":"**********"')),
    "curl -s -b jar $API/v1/database_connections/$ID/ # secrets as the mask":
        Expect(says=('"name":"Sales warehouse"', '"password":"**********"', '"last_test":{"code":"CONNECTION_SUCCESSFUL"')),
    "curl -sN -b jar -X POST -H \"X-CSRF-Token: $TOKEN\" $API/v1/database_connections/$ID/test/stream/ # streamed, as test/stream/":
        Expect(says=('{"event":"start"', '"event":"verdict"', OK)),
}


@pytest.fixture(scope="module")
def roles(postgres: DB) -> Iterator[DB]:
    """The README's users on the suite's PostgreSQL: ``app`` (database appdb) and ``etl`` (appdb and its
    own ``sales``, as in tests/test_readme_commands.py, which may have made ``etl`` first: its password is then
    set to this module's). What this module makes it removes, so that the other module can make it again."""
    server = postgres.server
    made: list[str] = []
    for role in ("app", "etl"):
        if not _exists(postgres, "SELECT 1 FROM pg_roles WHERE rolname = %s", role):
            server.sql(f"CREATE ROLE {role} LOGIN PASSWORD '{DB_PASSWORD}'")
            made.append(role)
        else:  # made by the other module, which has run: this module's password from now on
            server.sql(f"ALTER ROLE {role} PASSWORD '{DB_PASSWORD}'")
    if "etl" in made or not _exists(postgres, "SELECT 1 FROM pg_database WHERE datname = %s", "sales"):
        server.sql("CREATE DATABASE sales OWNER etl")
    server.sql("GRANT CONNECT ON DATABASE appdb TO app, etl")
    yield DB(postgres.host, postgres.port, "etl", DB_PASSWORD, "sales", server)
    if "etl" in made:
        server.sql("DROP DATABASE IF EXISTS sales WITH (FORCE)")
    server.sql("REVOKE CONNECT ON DATABASE appdb FROM app, etl")
    for role in made:
        server.sql(f"DROP OWNED BY {role}", database="appdb")
        server.sql(f"DROP ROLE {role}")


def _exists(db: DB, query: str, name: str) -> bool:
    import psycopg2

    from tests.servers.postgres import SUPERPASS, SUPERUSER

    conn = psycopg2.connect(host=db.host, port=db.port, user=SUPERUSER, password=SUPERPASS, dbname="postgres",
                            connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute(query, (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


@dataclass
class Shell:
    folder: Path
    env: dict[str, str]
    api: str
    db: DB

    def localised(self, line: str) -> str:
        """The line with its example hosts replaced by the suite's servers (nothing else changes)."""
        return (line.replace(EXAMPLE_API, self.api)
                    .replace('"host": "db.example.com", "port": 5432', f'"host": "{self.db.host}", "port": {self.db.port}')
                    .replace('"host": "127.0.0.1", "port": 5432', f'"host": "{self.db.host}", "port": {self.db.port}'))

    def run(self, lines: list[str]) -> list[tuple[int, str]]:
        """Run ``lines`` in one bash, in order; each line's exit status and standard output."""
        script = "".join(f"{self.localised(line)}\necho; echo \"{MARK} $?\"\n" for line in lines)
        done = subprocess.run(["bash", "-c", script], cwd=self.folder, env=self.env, capture_output=True, text=True,
                              timeout=180, stdin=subprocess.DEVNULL)
        assert "Traceback" not in done.stderr, done.stderr
        parts = re.split(rf"\n{MARK} (\d+)\n", done.stdout)
        outputs = [(int(parts[i + 1]), parts[i].rstrip("\n")) for i in range(0, len(parts) - 1, 2)]
        assert len(outputs) == len(lines), (done.stdout, done.stderr)
        return outputs


@pytest.fixture
def shell(tmp_path: Path, roles: DB, jwks: JWKSServer, keys: Keys) -> Iterator[Shell]:
    """The app (a session login and OIDC bearer tokens) on uvicorn, and the environment the README states."""
    settings = oidc_settings(tmp_path, jwks, files_dir=tmp_path / "files")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    env.update(PASSWORD=ADMIN_PASSWORD, DB_PASSWORD=DB_PASSWORD, JWT=sign(keys.rsa, "rsa-1"), NO_PROXY="*")
    for proxy in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        env.pop(proxy, None)
    folder = tmp_path / "work"
    folder.mkdir()
    body = {"connector_type": "PostgreSQLConnector", "host": roles.host, "port": roles.port, "database": "appdb",
            "username": "app", "password": DB_PASSWORD}
    (folder / "body.json").write_text(json.dumps(body))
    with serve(create_app(settings)) as url:
        yield Shell(folder, env, url, roles)


def test_the_table_is_the_readme() -> None:
    printed = [squeeze(line) for title, without in (("The API", ()), ("Saved connections", ("Administration",)))
               for block in blocks(title, without=without) for line in block]
    assert printed == list(LINES), "the README's lines and this test's table differ"


def test_the_api_examples_run_as_printed(shell: Shell) -> None:
    api_blocks = blocks("The API")
    login, rest = api_blocks[0], api_blocks[1:]
    preamble = login[:2]  # API=… and TOKEN=…: what the README says the later blocks assume
    assert preamble[0].startswith("API=") and preamble[1].startswith("TOKEN=")
    for block in [login, *rest]:
        lines = block if block is login else [*preamble, *block]
        for line, (status, out) in zip(lines, shell.run(lines), strict=True):
            check(line, status, out)
    saved = blocks("Saved connections", without=("Administration",))
    assert len(saved) == 1
    lines = [*preamble, *saved[0]]
    for line, (status, out) in zip(lines, shell.run(lines), strict=True):
        check(line, status, out)


def check(line: str, status: int, out: str) -> None:
    expect = LINES[squeeze(line)]
    assert status == 0, (line, out)
    if expect.silent:
        assert out == "", (line, out)
    for text in expect.says:  # the API's JSON is compact
        assert text in out, (line, out)

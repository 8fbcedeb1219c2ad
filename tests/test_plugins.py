"""A connector from another package: a throwaway plugin installed beside the project, never in it.

The plugin is a package and a ``.dist-info`` (its ``entry_points.txt`` in the group
``connection_wizard.connectors``) in ``tmp_path``, put on ``sys.path`` of a fresh process through
``PYTHONPATH``: exactly what ``pip install`` of a wheel leaves in site-packages. The API and the
command line of that process see it everywhere a connector shows, and its test runs to its
network edge (a closed port). No file of the project is touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TYPE = "AcmeConnector"

PLUGIN = textwrap.dedent('''
    """Acme DB: a connector from a package of its own."""
    from typing import Annotated, Any, Literal

    from pydantic import Field

    from backend.connectors.base import Connector, ConnectorModel, functionality
    from backend.core import RunContext
    from backend.spec.fields import SECRET
    from backend.spec.formfacts import URIFacts
    from backend.diagnosis.messages import Code
    from backend.diagnosis.netprobe import reach_directly
    from backend.spec.schemas import ApplicationMessage, SystemMessageKind


    class CreateAcmeConnector(ConnectorModel):
        connector_type: Literal["AcmeConnector"] = Field(title="Connector Type")
        host: str = Field(min_length=1, title="Host")
        port: int | None = Field(default=7707, ge=1, le=65535, title="Port")
        username: str = Field(min_length=1, title="Username")
        password: Annotated[str, SECRET] = Field(title="Password", repr=False)


    class Acme(Connector):
        type_name = "AcmeConnector"
        label = "Acme DB"
        position = 100
        model = CreateAcmeConnector
        example = {"connector_type": "AcmeConnector", "host": "acme.example.com", "port": 7707,
                   "username": "etl", "password": "example-password"}
        uri = URIFacts(schemes=("acme",), example="acme://etl@acme.example.com:7707")
        stage_names = ("parameters", "dns", "tcp", "ssh", "authentication")
        functionalities = (functionality("IDEMPOTENT_WRITING", "PREVENTIVE", "PARTIAL",
                                         "Acme DB truncates a table before it writes it again, so a rerun "
                                         "leaves the same rows.", {"DATA_TRUNCATION": []}),)

        async def diagnose(self, params: Any, ctx: RunContext) -> ApplicationMessage:
            async def parameters() -> None:
                self.check_hooks(params)

            await ctx.diagnosis.step("parameters", parameters)
            await reach_directly(params.host, params.port or self.default_port or 7707, ctx)
            return ctx.diagnosis.message(Code.CONNECTION_SUCCESSFUL, kind=SystemMessageKind.success,
                                         title="Connected to Acme DB", body="The Acme port answered.")


    CONNECTOR = Acme()
''')


def install_plugin(site: Path) -> None:
    """What ``pip install acme-wizard`` would leave in site-packages: the package and its dist-info."""
    (site / "acme_wizard").mkdir(parents=True)
    (site / "acme_wizard" / "__init__.py").write_text(PLUGIN)
    info = site / "acme_wizard-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-wizard\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[connection_wizard.connectors]\nacme = acme_wizard:CONNECTOR\n")
    (info / "RECORD").write_text("")


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    install_plugin(site)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIZARD_")}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(site)]),
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ in the checkout from this process
        "TMPDIR": str(tmp),
        "WIZARD_AUTH_ENABLED": "false",
        "WIZARD_TEST_TIMEOUT_S": "3",
        "WIZARD_FILES_DIR": str(tmp_path),
        "WIZARD_DATABASE_URL": f"sqlite:///{tmp_path}/wizard.db",
    })
    return env


API_SCRIPT = textwrap.dedent('''
    import json, sys
    from fastapi.testclient import TestClient
    from backend.main import create_app

    port = int(sys.argv[1])
    base = "/api/v1/database_connections"
    with TestClient(create_app()) as client:
        out = {
            "types": client.get(f"{base}/supported_types/").json(),
            "forms": client.get(f"{base}/forms/").json(),
            "functionalities": client.get(f"{base}/functionalities/", params={"connector_type": "AcmeConnector"}).json(),
            "test": client.post(f"{base}/test/", json={"connector_type": "AcmeConnector", "host": "127.0.0.1",
                                                      "port": port, "username": "etl", "password": "pw-acme"}).json(),
            "bad": client.post(f"{base}/test/", json={"connector_type": "AcmeConnector", "host": "127.0.0.1"}).json(),
        }
    print(json.dumps(out))
''')


def test_a_plugin_package_is_a_connector_everywhere(plugin_env: dict[str, str], closed_port: int,
                                                    tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", API_SCRIPT, str(closed_port)], env=plugin_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    props = seen["types"]["connectors"][TYPE]
    assert props["password"]["type"] == "password" and props["port"]["default"] == 7707
    assert TYPE in seen["types"]["write_connectors"] and "PostgreSQLConnector" in seen["types"]["connectors"]
    form = next(c for c in seen["forms"]["connectors"] if c["connector_type"] == TYPE)
    assert form["label"] == "Acme DB" and form["uri"]["schemes"] == ["acme"]
    assert [f["name"] for f in form["fields"]][:2] == ["host", "port"]
    assert [f["name"] for f in seen["functionalities"]["functionalities"]] == ["IDEMPOTENT_WRITING"]
    verdict = seen["test"]
    assert verdict["code"] == "PORT_CLOSED", verdict
    assert [s["name"] for s in verdict["payload"]["stages"]] == ["parameters", "dns", "tcp", "ssh", "authentication"]
    assert "pw-acme" not in json.dumps(verdict)
    assert seen["bad"]["code"] == "INVALID_PARAMETERS" and {"username", "password"} <= set(seen["bad"]["details"])


def test_a_plugin_package_is_read_by_the_command_line(plugin_env: dict[str, str], closed_port: int,
                                                      tmp_path: Path) -> None:
    env = {**plugin_env, "WIZARD_TEST_PASSWORD": "pw-acme"}
    done = subprocess.run([sys.executable, "-m", "backend", "test", "--uri", f"acme://etl@127.0.0.1:{closed_port}",
                           "--json"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["code"] == "PORT_CLOSED" and "pw-acme" not in done.stdout + done.stderr
    unknown = subprocess.run([sys.executable, "-m", "backend", "test", "--uri", "acme://etl@127.0.0.1:1", "--json"],
                             env={**plugin_env, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, capture_output=True,
                             text=True, timeout=120)
    assert unknown.returncode == 2, "without the plugin installed, acme: is no scheme the wizard reads"


def test_a_broken_plugin_is_left_out_and_logged(plugin_env: dict[str, str], tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "acme_wizard" / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
    script = ("import logging; logging.basicConfig(); from backend.connectors import registry; "
              "print(sorted(registry()))")
    done = subprocess.run([sys.executable, "-c", script], env=plugin_env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert TYPE not in done.stdout and "PostgreSQLConnector" in done.stdout
    assert "connector plugin 'acme'" in done.stderr and "broken on purpose" in done.stderr

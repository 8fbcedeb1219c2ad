"""GET …/forms/: every connector's and hook's form, complete, from the registry alone (an extension)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import Field, ValidationError

from backend.connectors import registry
from backend.connectors.base import Connector, ConnectorModel
from backend.main import create_app
from backend.spec.fields import SECRET, TEXT
from backend.spec.forms import NOT_SHOWN, build_forms, target_fields
from backend.spec.models import parse_connector
from backend.spec.schemas import HOOK_MODELS
from backend.spec.uri import parse_uri
from tests.conftest import make_settings, run_test

FORMS = "/api/v1/database_connections/forms/"
CONNECTORS = sorted(registry())


@pytest.fixture
def forms(client: httpx.Client) -> dict[str, Any]:
    response = client.get(FORMS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data: dict[str, Any] = response.json()
    return data


def form_of(forms: dict[str, Any], connector_type: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in forms["connectors"] if c["connector_type"] == connector_type)
    return found


def assert_complete(fields: list[dict[str, Any]], alternatives: list[dict[str, Any]], names: list[str]) -> None:
    """Every field once, labelled and explained; rows side by side; alternatives name real fields."""
    assert sorted(f["name"] for f in fields) == sorted(names)
    for item in fields:
        assert item["label"].strip() and item["help"] and item["help"].strip(), item
    rows = [f["row"] for f in fields]
    for row in {r for r in rows if r}:
        at = [i for i, r in enumerate(rows) if r == row]
        assert at == list(range(at[0], at[0] + len(at))), f"the fields of row {row} are not side by side"
    for alternative in alternatives:
        assert alternative["label"] and len(alternative["options"]) >= 2
        for option in alternative["options"]:
            assert option["label"] and set(option["fields"]) <= set(names)


def test_every_connector_in_display_order(forms: dict[str, Any]) -> None:
    listed = forms["connectors"]
    assert sorted(c["connector_type"] for c in listed) == CONNECTORS
    categories = [c["category"] for c in listed]
    assert categories == sorted(categories, key=lambda c: c != "database"), "databases first, then storage"
    for category in ("database", "storage"):
        labels = [c["label"] for c in listed if c["category"] == category]
        assert labels == sorted(labels, key=str.lower)
    assert {c["connector_type"] for c in listed if c["category"] == "storage"} == {"S3FSConnector", "ADLSFSConnector"}


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_connector_form_is_complete(forms: dict[str, Any], connector_type: str) -> None:
    connector = registry()[connector_type]
    form = form_of(forms, connector_type)
    names = [n for n in connector.model.model_fields if n not in NOT_SHOWN]
    assert form["label"] == connector.label and form["source"] == connector.source
    assert_complete(form["fields"], form["alternatives"], names)
    assert form["target_fields"] and set(form["target_fields"]) <= set(names)
    assert form["uri"] is not None
    example = parse_uri(form["uri"]["example"])
    assert example.connection["connector_type"] == connector_type and not example.password_in_uri
    for scheme in form["uri"]["schemes"]:
        assert scheme == scheme.lower()


@pytest.mark.parametrize("hook", sorted(HOOK_MODELS))
def test_hook_form_is_complete(forms: dict[str, Any], hook: str) -> None:
    form = forms["hooks"][hook]
    assert form["label"] and form["help"]
    assert_complete(form["fields"], form["alternatives"], list(HOOK_MODELS[hook].model_fields))


def test_ssh_tunnel_facts(forms: dict[str, Any]) -> None:
    fields = {f["name"]: f for f in forms["hooks"]["SSHTunnel"]["fields"]}
    assert fields["host"]["label"] == "SSH server", "not the database's host label"
    assert fields["port"]["placeholder"] == "22" and "22" in fields["port"]["help"]
    assert fields["pkey"]["upload"] and not fields["password"]["upload"]
    assert fields["local_host"]["advanced"] and fields["local_port"]["advanced"]
    assert [f["name"] for f in forms["hooks"]["SSHTunnel"]["fields"]][-2:] == ["local_host", "local_port"]
    (auth,) = forms["hooks"]["SSHTunnel"]["alternatives"]
    assert [o["fields"] for o in auth["options"]] == [["password"], ["pkey", "pkey_password"]]


def test_database_fields_share_a_row_and_drivers_are_advanced(forms: dict[str, Any]) -> None:
    for form in forms["connectors"]:
        fields = {f["name"]: f for f in form["fields"]}
        names = [f["name"] for f in form["fields"]]
        if "host" in fields and "port" in fields:
            assert names.index("port") == names.index("host") + 1 and fields["host"]["row"] == fields["port"]["row"]
        if "protocol" in fields:
            assert fields["protocol"]["advanced"] and names[-1] in ("protocol", "include_views")


def test_help_texts_speak_to_people_not_to_configuration(forms: dict[str, Any]) -> None:
    """Non-technical users read every label and help: no setting names, endpoint or body paths in them."""

    def texts(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [t for key, value in node.items() for t in (texts(value) if key not in ("path", "name") else [])]
        if isinstance(node, list):
            return [t for item in node for t in texts(item)]
        return [node] if isinstance(node, str) else []

    helps = [text for text in texts(forms) if " " in text]
    assert len(helps) > 50, "the forms carry their help texts"
    for jargon in ("WIZARD_", "supported_types", "hooks_params", "payload"):
        assert [text for text in helps if jargon in text] == [], jargon
    ssl = forms["hooks"]["SSL"] if isinstance(forms["hooks"], dict) else next(h for h in forms["hooks"] if h["name"] == "SSL")
    assert "files folder" in str(ssl), "server-side files are still explained"


def test_s3_keys_are_required_as_the_help_says(client: httpx.Client, forms: dict[str, Any]) -> None:
    """The help says what the backend really does: a test without keys is refused, naming both."""
    msg = run_test(client, {"connector_type": "S3FSConnector", "bucket": "b", "region": "eu-west-1"})
    assert msg["code"] == "INVALID_PARAMETERS"
    fields = {f["name"]: f for f in form_of(forms, "S3FSConnector")["fields"]}
    for name in ("aws_access_key_id", "aws_secret_access_key"):
        assert name in msg["details"]
        assert fields[name]["help"].startswith("Required") and "leave" not in fields[name]["help"].lower()


def test_adls_credentials_are_alternatives_and_every_one_is_secret(client: httpx.Client, forms: dict[str, Any]) -> None:
    (auth,) = form_of(forms, "ADLSFSConnector")["alternatives"]
    chosen = {name for option in auth["options"] for name in option["fields"]}
    assert {"storage_account_key", "storage_connection_string", "container_connection_string"} <= chosen
    props = client.get("/api/v1/database_connections/supported_types/").json()["write_connectors"]["ADLSFSConnector"]
    for name in ("storage_account_key", "storage_connection_string", "container_connection_string"):
        assert "password" in props[name]["type"], f"{name} is a secret"


def test_same_authentication_as_supported_types(tmp_path: Path) -> None:
    settings = make_settings(auth_enabled=True, database_url=f"sqlite:///{tmp_path}/wizard.db",
                             admin_password="Forms-Admin-Pw-1!")
    with TestClient(create_app(settings)) as anonymous:
        assert anonymous.get(FORMS).status_code == 401
        assert anonymous.get("/api/v1/database_connections/supported_types/").status_code == 401


def test_documented_as_an_extension(client: httpx.Client) -> None:
    operation = client.get("/api/schema/").json()["paths"][FORMS]["get"]
    assert operation["operationId"] == "database_connections_forms_retrieve"
    assert operation["tags"] == ["Database Connections"]
    assert "extension" in operation["description"].lower()
    assert "401" in operation["responses"]


# --- a connector nobody wrote form facts for ----------------------------------------------------


class CreateWarehouseConnector(ConnectorModel):
    connector_type: Literal["WarehouseConnector"] = Field(title="Connector Type")
    host: str = Field(min_length=1, title="Host")
    database: str = Field(min_length=1, title="Database")
    username: str = Field(min_length=1, title="Username")
    password: Annotated[str, SECRET] = Field(title="Password", repr=False)
    port: int | None = Field(default=7777, ge=1, le=65535, title="Port")
    protocol: str | None = Field(default="whdb+native", title="Protocol")
    compute_pool: str | None = Field(default=None, title="Compute Pool", description="The pool that runs queries.")
    client_certificate: Annotated[str | None, TEXT] = Field(default=None, title="Client Certificate",
                                                            description="A PEM certificate.")


class Warehouse(Connector):
    """A tenth connector: a model and the base declarations, no form facts, no UI edits."""

    type_name = "WarehouseConnector"
    label = "Warehouse DB"
    position = 10
    model = CreateWarehouseConnector

    async def diagnose(self, params: Any, ctx: Any) -> Any:  # pragma: no cover - never run here
        raise NotImplementedError


def test_a_new_connector_gets_a_complete_form_a_uri_and_a_target() -> None:
    connectors = {**registry(), "WarehouseConnector": Warehouse()}
    forms = build_forms(connectors.values()).model_dump()
    form = form_of(forms, "WarehouseConnector")
    names = [n for n in CreateWarehouseConnector.model_fields if n not in NOT_SHOWN]
    assert_complete(form["fields"], form["alternatives"], names)
    fields = {f["name"]: f for f in form["fields"]}
    assert fields["compute_pool"]["label"] == "Compute pool"
    assert fields["username"]["label"] == "User name" and fields["protocol"]["advanced"]
    assert fields["client_certificate"]["upload"]
    assert form["category"] == "database" and form["target_fields"] == ["host", "port"]
    assert target_fields(connectors["WarehouseConnector"]) == ("host", "port")
    assert form["uri"] == {"schemes": ["whdb", "jdbc:whdb"], "example": "whdb://etl@db.example.com:7777/sales"}

    parsed = parse_uri("whdb+native://etl:s3cret@wh.example.com:7000/sales?compute_pool=big", connectors)
    body = parsed.connection
    assert parsed.password_in_uri
    assert body == {"connector_type": "WarehouseConnector", "protocol": "whdb+native", "host": "wh.example.com",
                    "port": 7000, "username": "etl", "password": "s3cret", "database": "sales", "compute_pool": "big"}
    assert CreateWarehouseConnector.model_validate(body).port == 7000
    with pytest.raises(ValidationError):
        parse_connector(body)  # not in the real registry: the throw-away connector stayed in this test


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ({"connector_type": "PostgreSQLConnector", "host": "db.example.com", "database": "d", "username": "u",
          "password": "p"}, "db.example.com"),
        ({"connector_type": "S3FSConnector", "bucket": "my-bucket", "region": "eu-west-1"}, "my-bucket"),
        ({"connector_type": "ADLSFSConnector", "storage_account_name": "acct", "storage_container_name": "c1"}, "acct"),
        ({"connector_type": "ADLSFSConnector", "storage_connection_string": "AccountName=a;AccountKey=k",
          "storage_container_name": "c1"}, "c1"),
    ],
)
def test_the_audit_line_names_the_target_fields(body: dict[str, Any], target: str) -> None:
    from backend.diagnosis.service import _target

    assert _target(parse_connector(body)) == target


# --- forms/ alone builds the form (DESIGN.md "Endpoints added for the UI and the steward") -----------------


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_each_field_says_what_supported_types_says(client: httpx.Client, forms: dict[str, Any], connector_type: str) -> None:
    types = client.get("/api/v1/database_connections/supported_types/").json()
    props = types["write_connectors"][connector_type]
    form = form_of(forms, connector_type)
    for item in form["fields"]:
        prop = props[item["name"]]
        assert (item["type"], item["default"], item["values"]) == (prop["type"], prop["default"], prop["values"])
        assert item["required"] == ("null" not in prop["type"])
        assert item["secret"] == (prop["type"] == "password" or "password" in prop["type"])
        assert item["group"] == "connection"
    assert form["hooks"] == props["hooks_params"]["values"]
    assert form["overrides"] == {k: v for k, v in props.items() if "." in k}
    assert form["destination"] is True and form["source"] == (connector_type in types["connectors"])
    assert set(form["stages"]) <= set(forms["stages"]), "every stage has words"
    ports = [f for f in form["fields"] if f["name"] == "port"]
    assert all((f["minimum"], f["maximum"]) == (1, 65535) for f in ports)


def test_hooks_mask_and_words(forms: dict[str, Any]) -> None:
    assert forms["mask"] == "**********"
    ssh = forms["hooks"]["SSHTunnel"]
    assert ssh["target_fields"] == ["host", "port"]
    by_name = {f["name"]: f for f in ssh["fields"]}
    assert by_name["password"]["secret"] and by_name["pkey"]["secret"] and not by_name["username"]["secret"]
    assert (by_name["port"]["minimum"], by_name["port"]["maximum"]) == (1, 65535)
    assert all(f["group"] == "SSHTunnel" for f in ssh["fields"])
    assert forms["stages"]["tcp"] == "Reach the server"
    assert forms["words"]["FOREIGN_KEY_MANAGEMENT"]["label"] == "Manage foreign keys"
    assert all("_" not in w["label"] for w in forms["words"].values())

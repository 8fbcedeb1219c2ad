"""Every registered connector is one complete plugin: each piece it must declare is there and works.

Driven by the registry (in-tree modules and entry-point plugins alike), so a new connector is
checked the moment it exists, and the failure says which piece it is missing. Nothing here names
a connector.
"""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

import pytest

from backend.capabilities.engine import examiner
from backend.connectors import registry
from backend.connectors.base import Connector, ConnectorModel
from backend.connectors.sql import SQLConnector
from backend.fields import is_secret, iter_fields
from backend.forms import connector_form, target_fields, uri_facts
from backend.metadata import functionalities, supported_types
from backend.schemas import FunctionalityName
from backend.uri import parse_uri

CONNECTORS = sorted(registry())
SECRET_LOOKING = re.compile(r"password|passphrase|token|secret|account_key|connection_string|(^|_)pkey($|_)")
"""Field names that hold a secret, whatever the connector: such a field must be marked ``SECRET``."""


def connector(name: str) -> Connector:
    return registry()[name]


def test_the_registry_is_not_empty_and_keyed_by_type_name() -> None:
    assert CONNECTORS
    assert all(c.type_name == name for name, c in registry().items())
    assert len({c.position for c in registry().values()}) == len(registry()), "two connectors share a position"


@pytest.mark.parametrize("name", CONNECTORS)
def test_identity(name: str) -> None:
    c = connector(name)
    assert c.label and isinstance(c.position, int)
    assert issubclass(c.model, ConnectorModel)
    literal = c.model.model_fields["connector_type"].annotation
    assert typing.get_origin(literal) is typing.Literal and typing.get_args(literal) == (name,), (
        f"{name}.model's connector_type must be Literal[{name!r}]")
    assert c.stage_names[0] == "parameters"


@pytest.mark.parametrize("name", CONNECTORS)
def test_example_body(name: str) -> None:
    c = connector(name)
    assert c.example, f"{name} declares no example body (Connector.example)"
    assert c.example.get("connector_type") == name
    c.model.model_validate(c.example)  # raises, naming the field, when the example breaks the model


@pytest.mark.parametrize("name", CONNECTORS)
def test_default_port_comes_from_the_model(name: str) -> None:
    c = connector(name)
    if "port" in c.model.model_fields:
        assert isinstance(c.default_port, int) and 1 <= c.default_port <= 65535, f"{name}.model's port has no default"
    else:
        assert c.default_port is None
    if isinstance(c, SQLConnector):
        assert c.protocols, f"{name} names no driver protocol"
        assert c.model.model_fields["protocol"].default in c.protocols


@pytest.mark.parametrize("name", CONNECTORS)
def test_capabilities_examiner(name: str) -> None:
    """The examination is found (declared or by convention) and has ``examine(handle, params, options, ctx)``."""
    c = connector(name)
    if c.examiner_module() is None:
        assert type(c).__module__.split(".")[0] != "backend", f"{name} is in-tree and has no capabilities examiner"
        return
    examine = examiner(c)
    assert inspect.iscoroutinefunction(examine), f"{c.examiner_module()}.examine must be async"
    assert len(inspect.signature(examine).parameters) == 4


@pytest.mark.parametrize("name", CONNECTORS)
def test_functionalities_cover_the_spec(name: str) -> None:
    assert sorted(f.name.value for f in functionalities(name).functionalities or [] if f.name) == sorted(
        n.value for n in FunctionalityName), f"{name} must say something about every functionality"


@pytest.mark.parametrize("name", CONNECTORS)
def test_metadata_form_and_targets(name: str) -> None:
    c = connector(name)
    types = supported_types()
    assert name in (types.write_connectors or {})
    assert (name in (types.connectors or {})) == c.source
    form = connector_form(c)
    assert form is not None
    targets = target_fields(c)
    assert targets and all(t in c.model.model_fields for t in targets), f"{name}: the audit line names no target"
    if "SSL" in c.hooks:
        assert c.ssl_modes, f"{name} offers the SSL hook but names no ssl_mode"
    assert c.hooks <= {"SSHTunnel", "SSL", "Kerberos"}


@pytest.mark.parametrize("name", CONNECTORS)
def test_secrets_are_marked(name: str) -> None:
    """A field whose name says it holds a secret is marked SECRET (typed ``password``, masked, never echoed)."""
    c = connector(name)
    props = c.properties()
    for field, info in iter_fields(c.model, skip=("connector_type",)):
        if SECRET_LOOKING.search(field) and not field.endswith(("_filename", "_file")):
            assert is_secret(info), f"{name}.{field} looks secret but is not marked SECRET"
        kind = props[field]["type"]
        first = kind[0] if isinstance(kind, list) else kind
        assert (first == "password") == is_secret(info), f"{name}.{field}: typed {first}"
        if is_secret(info):
            assert info.repr is False, f"{name}.{field}: a secret field needs repr=False"


@pytest.mark.parametrize("name", CONNECTORS)
def test_uri_dialect(name: str) -> None:
    """A connector reached at a host reads its own URIs: its example URI comes back as its body."""
    c = connector(name)
    facts = uri_facts(c)
    if facts is None:
        assert "host" not in c.model.model_fields, f"{name} has a host but reads no URI (Connector.uri)"
        return
    parsed = parse_uri(facts.example)
    assert parsed.connection["connector_type"] == name
    for scheme in facts.schemes:
        assert scheme == scheme.lower()


def test_a_missing_piece_is_reported() -> None:
    """The checks above fail for a connector that leaves its pieces out (so they can fail at all)."""

    class Bare(Connector):
        type_name = "BareConnector"
        label = "Bare"
        position = 10_000
        model = ConnectorModel

        async def diagnose(self, params: Any, ctx: Any) -> Any:
            raise NotImplementedError

    bare = Bare()
    assert not bare.example
    assert bare.examiner_module() is None  # not in backend.connectors: no convention applies
    assert bare.default_port is None
    type(bare).__module__ = "backend.connectors.bare"
    assert bare.examiner_module() == "backend.capabilities.bare"
    with pytest.raises(ModuleNotFoundError):
        examiner(bare)

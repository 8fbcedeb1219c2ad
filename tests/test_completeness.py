"""Every registered connector is one complete plugin: each piece it must declare is there and works.

Driven by the registry (in-tree modules and entry-point plugins alike), so a new connector is
checked the moment it exists, and the failure says which piece it is missing. Nothing here names
a connector.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from typing import Any, Literal

import pytest

from backend.capabilities.engine import examiner
from backend.connectors import registry
from backend.connectors.base import Connector, ConnectorModel
from backend.connectors.sql import SQLConnector
from backend.spec.fields import is_secret, iter_fields
from backend.spec.formfacts import URICut, URIDialect, URIFacts, URIParts
from backend.spec.forms import connector_form, target_fields, uri_facts
from backend.spec.metadata import functionalities, supported_types
from backend.spec.schemas import FunctionalityName
from backend.spec.uri import URIError, parse_uri

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


def uri_problems(c: Connector, connectors: Mapping[str, Connector] | None = None) -> list[str]:
    """What is missing from how ``c`` reads its URIs (``connectors``: what ``parse_uri`` looks in, the registry
    by default): every ``jdbc:`` scheme it declares must be shown by a spelling of its example, and every
    spelling must read as the example does, which fails when the form's dialect (``URIFacts.dialect``) is missing."""
    name = c.type_name
    facts = uri_facts(c)
    if facts is None:
        return [f"{name} has a host but reads no URI (Connector.uri)"] if "host" in c.model.model_fields else []
    problems = [f"{name}: the scheme {s!r} is not lower case" for s in facts.schemes if s != s.lower()]
    expected = parse_uri(facts.example, connectors)
    if expected.connection["connector_type"] != name or expected.notes:
        problems.append(f"{name} does not read its own example URI cleanly: {expected.notes}")
    for scheme in facts.schemes:
        if scheme.startswith("jdbc:") and not any(s.lower().startswith(f"{scheme}:") for s in facts.spellings):
            problems.append(f"{name} declares the scheme {scheme!r} but no spelling of its example in it "
                            f"(URIFacts.spellings)")
    for spelling in facts.spellings:
        try:
            parsed = parse_uri(spelling, connectors)
        except URIError as exc:
            problems.append(f"{name} cannot read {spelling!r} ({exc.message}): is its URI dialect "
                            f"(URIFacts.dialect) missing?")
            continue
        if parsed.connection != expected.connection or parsed.notes:
            problems.append(f"{name} reads {spelling!r} as {parsed.connection} (notes: {parsed.notes}), not as its "
                            f"example {facts.example!r}: is its URI dialect (URIFacts.dialect) missing?")
    return problems


@pytest.mark.parametrize("name", CONNECTORS)
def test_uri_dialect(name: str) -> None:
    """A connector reached at a host reads its own URIs, in each of its forms: its example, and each spelling of
    it (one per ``jdbc:`` scheme at least) comes back as the same body."""
    assert uri_problems(connector(name)) == []


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


def test_a_connector_without_its_uri_dialect_is_named() -> None:
    """A ``jdbc:`` form that needs a dialect of its own, declared without one (or not shown at all), is named."""

    class CreateBareConnector(ConnectorModel):
        connector_type: Literal["BareConnector"]
        host: str
        port: int | None = 7707
        database: str | None = None
        username: str | None = None

    class SemicolonSettings(URIDialect):
        def read(self, scheme: str, rest: str, cut: URICut) -> URIParts:
            parts = cut(rest)
            parts.hostport, _, settings = parts.hostport.partition(";")
            parts.add_parameters(settings, ";")
            return parts

    class Bare(Connector):
        type_name = "BareConnector"
        label = "Bare"
        position = 10_000
        model = CreateBareConnector
        uri = URIFacts(schemes=("bare", "jdbc:bare"), example="bare://etl@bare.example.com:7707/sales",
                       spellings=("jdbc:bare://bare.example.com:7707;databaseName=sales;user=etl",))

        async def diagnose(self, params: Any, ctx: Any) -> Any:
            raise NotImplementedError

    bare = Bare()
    problems = uri_problems(bare, {bare.type_name: bare})
    assert len(problems) == 1 and "BareConnector cannot read" in problems[0] and "URIFacts.dialect" in problems[0]
    Bare.uri = URIFacts(schemes=("bare", "jdbc:bare"), example="bare://etl@bare.example.com:7707/sales")
    assert uri_problems(bare, {bare.type_name: bare}) == [
        "BareConnector declares the scheme 'jdbc:bare' but no spelling of its example in it (URIFacts.spellings)"]
    Bare.uri = URIFacts(schemes=("bare", "jdbc:bare"), example="bare://etl@bare.example.com:7707/sales",
                        dialect=SemicolonSettings(),
                        spellings=("jdbc:bare://bare.example.com:7707;databaseName=sales;user=etl",))
    assert uri_problems(bare, {bare.type_name: bare}) == []

"""The benchmark's body builder builds a valid body for every connector in the registry."""

from __future__ import annotations

import pytest

from backend.connectors import registry
from backend.metadata import supported_types
from backend.models import parse_connector
from bench.bodies import UNRESOLVABLE, Target, build_body, endpoint_kind


@pytest.mark.parametrize("connector_type", list(registry()))
@pytest.mark.parametrize("target", [Target(port=5432), Target(host=UNRESOLVABLE, port=1)], ids=["loopback", "invalid"])
def test_body_is_valid(connector_type: str, target: Target) -> None:
    properties = supported_types().model_dump()["write_connectors"][connector_type]
    body = build_body(connector_type, properties, target)
    model = parse_connector(body)
    assert type(model) is registry()[connector_type].model
    # The bench can aim every connector at its loopback endpoints (else its fail-fast rows would be empty).
    assert endpoint_kind(properties, connector_type) != "none"
    if "host" in properties:
        assert body["host"] == target.host


def test_every_connector_is_listed() -> None:
    # write_connectors lists every connector (DESIGN.md): the bench iterates over it.
    assert set(supported_types().model_dump()["write_connectors"]) == set(registry())

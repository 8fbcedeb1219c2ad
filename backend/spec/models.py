"""The request body of ``test``: the discriminated union of every registered connector's model."""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, RootModel

from backend.connectors import registry
from backend.connectors.base import ConnectorModel


def _build() -> type[RootModel[Any]]:
    models = tuple(c.model for c in registry().values())
    union = Annotated[Union[models], Field(discriminator="connector_type")]  # type: ignore[valid-type]  # noqa: UP007
    return type("CreateConnectorSchema", (RootModel[union],), {"__module__": __name__})


CreateConnectorSchema = _build()


def parse_connector(data: Any) -> ConnectorModel:
    """Validate a request body into the right connector model (raises pydantic's ValidationError)."""
    return CreateConnectorSchema.model_validate(data).root

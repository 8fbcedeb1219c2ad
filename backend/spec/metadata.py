"""``supported_types`` and ``functionalities``, generated once from the registry."""

from __future__ import annotations

from functools import lru_cache

from backend.connectors import registry
from backend.hooks.tls import LIBPQ_MODES
from backend.spec.fields import iter_fields, property_of
from backend.spec.schemas import HOOK_MODELS, FunctionalityListSchema, SupportedConnectionTypes


@lru_cache
def supported_types() -> SupportedConnectionTypes:
    connectors = registry().values()
    hooks = {name: {field: property_of(info) for field, info in iter_fields(model)} for name, model in HOOK_MODELS.items()}
    # One vocabulary across connectors: every ssl_mode word some connector accepts (docs/design.md, "SSL modes").
    words = dict.fromkeys(word for c in connectors if "SSL" in c.hooks for word in c.ssl_words().accepted)
    hooks["SSL"]["ssl_mode"]["values"] = [*(w for w in LIBPQ_MODES if w in words), *(w for w in words if w not in LIBPQ_MODES)]
    return SupportedConnectionTypes.model_validate(
        {
            "connectors": {c.type_name: c.properties() for c in connectors if c.source},
            "write_connectors": {c.type_name: c.properties() for c in connectors},
            "hooks": hooks,
        }
    )


@lru_cache
def functionalities(connector_type: str) -> FunctionalityListSchema:
    connector = registry()[connector_type]
    return FunctionalityListSchema(functionalities=list(connector.functionalities))


@lru_cache
def supported_types_json() -> bytes:
    return supported_types().model_dump_json().encode()


@lru_cache
def functionalities_json(connector_type: str) -> bytes:
    return functionalities(connector_type).model_dump_json().encode()

"""``GET /api/v1/database_connections/forms/``: how to show each connector's form (an extension beyond the spec)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.deps import UserDep
from backend.forms import forms_json
from backend.schemas import ConnectionForms

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])

DESCRIPTION = """An extension beyond the seed spec: how to show each connector's form, beside
`supported_types/` (which keeps each field's type, default, required-ness and choices; they are not
repeated here).

- `connectors`: databases alphabetically by label, then storage. Each gives its `label`, `category`
  (`database` or `storage`), whether it can be a `source`, `target_fields` (where the connection goes),
  `uri` (the schemes a pasted connection URI may use, `jdbc:` forms included, and an example; null
  when it reads none), `fields` (every field of its `Create…Connector` body except `connector_type`,
  `hooks_params` and `is_source`, in display order) and `alternatives`.
- A field: `name`, `label`, `help`, `placeholder`, `advanced` (folded away by default), `row` (consecutive
  fields with the same row share a line) and `upload` (a text field that also takes a file).
- An alternative: fields given one way or another (`options`, each with a `label` and its `fields`);
  an option's fields show only when it is picked.
- `hooks`: the same for the `SSHTunnel`, `SSL` and `Kerberos` sections, with a `label` and `help` each.

Everything comes from the connector registry (each connector's and hook's own facts), built once."""


@router.get(
    "/forms/",
    operation_id="database_connections_forms_retrieve",
    summary="How to show each connector's form (extension)",
    description=DESCRIPTION,
    response_model=ConnectionForms,
)
async def get_forms(user: UserDep) -> Response:
    return Response(forms_json(), media_type="application/json")

"""``GET /api/v1/database_connections/forms/``: how to show each connector's form (an extension beyond the spec)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from backend.api.deps import UserDep
from backend.spec.forms import forms_json
from backend.spec.schemas import ConnectionForms

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])

DESCRIPTION = """An extension beyond the seed spec: how to show each connector's form, beside
`supported_types/`, whose facts it repeats so that a form needs no other document.

- `connectors`: databases alphabetically by label, then storage. Each gives its `label`, `category`
  (`database` or `storage`), whether it can be a `source`, `target_fields` (where the connection goes),
  `uri` (the schemes a pasted connection URI may use, `jdbc:` forms included, and an example; null
  when it reads none), `fields` (every field of its `Create…Connector` body except `connector_type`,
  `hooks_params` and `is_source`, in display order) and `alternatives`.
- A field: `name`, `label`, `help`, `placeholder`, `advanced` (folded away by default), `row` (consecutive
  fields with the same row share a line), `upload` (a text field that also takes a file), and what it is,
  as `supported_types/` says it: `type`, `default`, `values`, `required`, `secret` (masked, never echoed),
  `minimum`/`maximum` (numeric bounds) and `group` (`connection` or the hook's name).
- A connector also gives its `hooks`, `overrides` (field path → what differs for it, e.g. its own
  `hooks_params.SSL.ssl_mode` values), `stages` (its test's stages in order) and `destination`.
- `mask`: how a stored secret reads in a saved connection; `stages`: each stage's name in plain words;
  `words`: capability, functionality and access names in plain words (`label`, `meaning`).
- An alternative: fields given one way or another (`options`, each with a `label` and its `fields`);
  an option's fields show only when it is picked.
- `hooks`: the same for the `SSHTunnel`, `SSL` and `Kerberos` sections, with a `label`, `help` and
  `target_fields` (the hook's fields that say where the connection goes) each.

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

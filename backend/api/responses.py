"""Answers written from a model the endpoint built itself.

An endpoint that returns a pydantic model has FastAPI validate it again against the route's
``response_model`` and only then serialise it; for a model the wizard built and validated itself
(a verdict, a saved connection) that second validation is pure cost on the hot paths (docs/design.md,
"The server path"). :func:`written` serialises it once, as FastAPI would (by alias, nothing left out);
the route's ``response_model`` still documents the answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel

JSON = "application/json"


def written(model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """``model`` as the JSON body of an answer with ``status`` and ``headers``."""
    return Response(model.model_dump_json(by_alias=True), status_code=status, media_type=JSON, headers=headers)

"""The playground (Swagger UI) at ``/api/playground/``, served from the project itself.

FastAPI's own ``docs_url`` page loads Swagger UI from a CDN, so on a machine without internet
access the playground was a blank page. Here the page and its assets come with the Python
package itself: ``backend/static/swagger-ui/`` holds the files of Swagger UI 5 (npm's
``swagger-ui-dist``, with its licence), the first version to render OpenAPI 3.1 — the PyPI
package ``swagger-ui-bundle`` carries version 4, which cannot. So ``pip install .`` and
``uvicorn backend.main:app`` serve a working playground with no npm step and no internet.
Only the few files the page needs are served, by fixed name, so the route cannot be turned
into a file reader.

The initializer is a file of its own rather than an inline script, so a Content-Security-Policy
without ``'unsafe-inline'`` still lets the playground run.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from backend.api import errors
from backend.diagnosis.messages import Code

PLAYGROUND = "/api/playground/"
ASSETS_DIR = Path(__file__).resolve().parent / "static" / "swagger-ui"
ASSETS: dict[str, str] = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}
"""The files of Swagger UI the page loads, and their content types."""

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} — playground</title>
  <link rel="stylesheet" href="{base}assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="{base}assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui" data-schema="{schema}"></div>
  <script src="{base}assets/swagger-ui-bundle.js"></script>
  <script src="{base}assets/swagger-ui-standalone-preset.js"></script>
  <script src="{base}init.js"></script>
</body>
</html>
"""

INIT = """window.ui = SwaggerUIBundle({
  url: document.getElementById("swagger-ui").dataset.schema,
  dom_id: "#swagger-ui",
  deepLinking: true,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
  // Cookie-authenticated calls from this page are same-origin: the browser sends the
  // sessionid cookie and its Origin header, which the API's CSRF check accepts.
  withCredentials: true,
  persistAuthorization: false,
  tryItOutEnabled: false,
  validatorUrl: null
});
"""

router = APIRouter(include_in_schema=False)


def _base(request: Request) -> str:
    """The playground's own path as the browser reached it (a mount may put a prefix before it)."""
    return f"{request.scope.get('root_path', '')}{PLAYGROUND}"


def _missing() -> Response:
    return errors.message_response(
        503,
        Code.SERVICE_BUSY,
        "The playground is not installed",
        "Swagger UI's files (backend/static/swagger-ui/) are missing from this install of the wizard.",
    )


@router.get(PLAYGROUND, response_class=HTMLResponse)
async def playground(request: Request) -> Response:
    if not (ASSETS_DIR / "swagger-ui-bundle.js").is_file():
        return _missing()
    schema = f"{request.scope.get('root_path', '')}{request.app.openapi_url or '/api/schema/'}"
    return HTMLResponse(PAGE.format(title=html.escape(request.app.title), base=_base(request), schema=html.escape(schema)))


@router.get(f"{PLAYGROUND}init.js")
async def initializer() -> Response:
    return Response(INIT, media_type="text/javascript; charset=utf-8")


@router.get(PLAYGROUND + "assets/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        return errors.message_response(404, Code.NOT_FOUND, "Not found", "The playground has no such file.")
    path = ASSETS_DIR / name
    if not path.is_file():
        return _missing()
    return FileResponse(path, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"})


def install(app: FastAPI) -> None:
    """Serve the playground on ``app`` (created with ``docs_url=None``)."""
    app.include_router(router)

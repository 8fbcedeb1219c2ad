"""Ready-to-run ``curl`` and Python (httpx) calls for a request body whose secrets are placeholders."""

from __future__ import annotations

import json
import pprint
from collections.abc import Iterable
from typing import Any

from components.metadata import FieldSpec

TEST_PATH = "/api/v1/database_connections/test/"
AUTH_PATH = "/api/v1/auth/"


def curl_snippet(base_url: str, body: dict[str, Any]) -> str:
    """Log in (cookie + CSRF token), then POST the test; the body goes through a quoted
    here-document, so no character of it is read by the shell."""
    data = json.dumps(body, indent=2)
    return (
        "# Log in once: keeps the sessionid cookie, and the CSRF token every POST must carry.\n"
        '# (With an OIDC token instead: skip this, and send -H "Authorization: Bearer $TOKEN".)\n'
        f"CSRF=$(curl -sS -c cookies.txt -o /dev/null -D - -X POST '{base_url}{AUTH_PATH}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  -d '{\"username\": \"<USERNAME>\", \"password\": \"<WIZARD_PASSWORD>\"}' \\\n"
        "  | tr -d '\\r' | awk 'tolower($1) == \"x-csrf-token:\" {print $2}')\n\n"
        "# Test the connection (replace the <…> placeholders first).\n"
        f"curl -sS -b cookies.txt -H \"X-CSRF-Token: $CSRF\" -X POST '{base_url}{TEST_PATH}' \\\n"
        "  -H 'Content-Type: application/json' \\\n"
        "  --data-binary @- <<'JSON'\n"
        f"{data}\n"
        "JSON\n"
    )


def python_snippet(base_url: str, body: dict[str, Any]) -> str:
    literal = pprint.pformat(body, indent=4, width=88, sort_dicts=False)
    return (
        "import httpx\n\n"
        f"body = {literal}  # replace the <…> placeholders first\n\n"
        f'with httpx.Client(base_url="{base_url}", timeout=30) as api:\n'
        "    # Log in once: the client keeps the sessionid cookie; every POST also carries the\n"
        "    # session's CSRF token. (With an OIDC token instead, skip this and pass\n"
        '    # headers={"Authorization": f"Bearer {token}"} to httpx.Client.)\n'
        f'    login = api.post("{AUTH_PATH}", json={{"username": "<USERNAME>", "password": "<WIZARD_PASSWORD>"}})\n'
        "    login.raise_for_status()\n"
        '    api.headers["X-CSRF-Token"] = login.json()["csrf_token"]\n\n'
        f'    reply = api.post("{TEST_PATH}", json=body)\n'
        "    if reply.status_code == 503:\n"
        '        print("Busy: retry after", reply.headers.get("Retry-After"), "s")\n'
        "    message = reply.json()  # an ApplicationMessage, for 200 and 422 alike\n"
        '    print(message["code"], message["title"], message["details"])\n'
        '    for stage in (message.get("payload") or {}).get("stages", []):\n'
        '        print(f"  {stage[\'name\']:<15} {stage[\'status\']:<8} {stage[\'duration_ms\']} ms")\n'
    )


def example_body(connector_type: str, specs: Iterable[FieldSpec], is_source: bool = True) -> dict[str, Any]:
    """A body for a connector nobody filled in yet: defaults, and ``<FIELD>`` for required fields."""
    from components.form import placeholder_for

    body: dict[str, Any] = {"connector_type": connector_type, "is_source": is_source}
    for spec in specs:
        if spec.default is not None:
            body[spec.name] = spec.default
        elif spec.required:
            body[spec.name] = placeholder_for(spec.path)
    return body

"""API: the same tests from a script — endpoints, authentication, and the form as curl and Python."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.api_client import ApiProblem
from components.form import escape_md
from components.metadata import connector_section, connector_types
from components.session import api_endpoints, client, embedded_api_url, metadata, show_problem
from components.snippets import curl_snippet, example_body, python_snippet


def public_base() -> str:
    """The API's address as the reader's browser sees it: this page's origin when embedded."""
    url = client().base_url
    if url != embedded_api_url():
        return url
    here = st.context.url or ""
    if "://" in here:
        scheme, rest = here.split("://", 1)
        return f"{scheme}://{rest.split('/', 1)[0]}"
    return url


base = public_base()
st.title("Use the API", anchor=False)
st.markdown(
    "Everything this wizard does goes through its HTTP API, and you can call it too: from a script, a "
    "scheduler or another application. It answers in JSON, with the same verdicts you see here."
)
left, right = st.columns(2)
left.link_button("Try it in the playground", f"{base}/api/playground/", icon=":material/science:", width="stretch")
right.link_button("OpenAPI schema", f"{base}/api/schema/", icon=":material/data_object:", width="stretch")

st.header("Endpoints", anchor=False, divider="gray")
try:
    listed = api_endpoints()  # read once per session; asked again only if that read failed
except ApiProblem as problem:
    show_problem(problem, retry_label="Load again", key="retry-schema")
    listed = []
st.caption(f"Every endpoint of the OpenAPI document ({len(listed)}), read from /api/schema/.")
for tag in dict.fromkeys(tag for *_, tag in listed):
    st.markdown(f"**{escape_md(tag or 'Other')}**")
    st.markdown("\n".join(f"- `{method} {path}`  \n  {escape_md(summary)}"
                           for method, path, summary, t in listed if t == tag))
st.markdown(f"Base address: `{base}`")
st.markdown(
    "**Answers.** A test that ran returns `200` with an *ApplicationMessage*: `kind` (success, error, "
    "warning), `title`, `body`, `code`, `details` (the fields to fix) and `payload.stages` (each step with "
    "its duration). Settings the API cannot accept: `422`, with `details` per field. Too many tests at "
    "once: `503` with a `Retry-After` header (seconds)."
)

st.header("Authentication", anchor=False, divider="gray")
st.markdown(
    "Two ways, as in the OpenAPI schema:\n"
    "1. **Session cookie** — `POST /api/v1/auth/` with your user name and password; the answer sets an "
    "HttpOnly `sessionid` cookie and carries a CSRF token (`csrf_token`, and the `X-CSRF-Token` header). "
    "Send the cookie with every call (`curl -c`/`-b cookies.txt`, or one `httpx.Client`), and the token as "
    "`X-CSRF-Token` with every POST and DELETE.\n"
    "2. **Bearer token** — from your organisation's identity provider (OIDC): send "
    "`Authorization: Bearer <token>` with every call."
)

st.header("Your connection, as code", anchor=False, divider="gray")
last: dict[str, Any] | None = st.session_state.get("last_request")
if last:
    st.caption(
        f"The {metadata().forms.label(str(last.get('connector_type')))} form you filled on the Connect page. Secrets are "
        "replaced by <…> placeholders: put them in from a safe place, never into the script itself."
    )
    body = last
else:
    body = {}
    try:
        meta = metadata()
        types = connector_types(meta.forms, True)
        if types:
            body = example_body(types[0], connector_section(meta.forms, types[0]).fields)
    except ApiProblem:
        pass
    st.caption("Fill the Connect page and your settings appear here. Meanwhile, an example:")

if body:
    curl_tab, python_tab = st.tabs(["curl", "Python (httpx)"])
    with curl_tab:
        st.code(curl_snippet(base, body), language="bash", wrap_lines=True)
    with python_tab:
        st.code(python_snippet(base, body), language="python", wrap_lines=True)
else:
    st.info("The connector list could not be loaded; see the Connect page.", icon=":material/info:")

"""The one-click fix for an encrypted connection whose server certificate was not checked."""

from __future__ import annotations

import streamlit as st

from components.form import hook_key, widget_key
from components.metadata import Forms, hook_section
from components.session import RUN_TEST, TEST_RESULT


def strictest_mode(values: list[str] | tuple[str, ...]) -> str | None:
    """The strictest verifying mode a connector offers: the last ``verify…`` mode (lists go weakest first)."""
    verifying = [v for v in values if "verify" in v.lower()]
    return verifying[-1] if verifying else None


def offer_verification(connector_type: str, forms: Forms) -> None:
    """A button that switches verification on and tests again (the verdict above, a warning, says why)."""
    spec = next((s for s in hook_section(forms, connector_type, "SSL").fields if s.name == "ssl_mode"), None)
    mode = strictest_mode(list(spec.values or []) if spec else [])
    if mode is None:
        return

    def turn_on() -> None:
        st.session_state[hook_key(connector_type, "SSL")] = True
        st.session_state[widget_key(connector_type, "hooks_params.SSL.ssl_mode")] = mode
        st.session_state.pop(TEST_RESULT, None)
        st.session_state[RUN_TEST] = True

    st.caption("If the server's certificate is not signed by a well-known authority, also give its CA "
               "certificate under SSL / TLS encryption.")
    st.button(f"Check the certificate ({mode}) and test again", on_click=turn_on, icon=":material/verified_user:",
              key="verify_tls")

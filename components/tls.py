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


CA_TEXT = "verify_ca_text"
CA_FILE = "verify_ca_file"


def offer_verification(connector_type: str, forms: Forms) -> None:
    """Ask for what is missing — the CA certificate that signed the server's certificate (paste or upload) —
    then test again with the connector's own verifying mode (never flip the mode without the CA)."""
    spec = next((s for s in hook_section(forms, connector_type, "SSL").fields if s.name == "ssl_mode"), None)
    mode = strictest_mode(list(spec.values or []) if spec else [])
    if mode is None:
        st.caption("This connector cannot check the server's certificate.")
        return

    def use_upload() -> None:
        upload = st.session_state.get(CA_FILE)
        if upload is not None:
            st.session_state[CA_TEXT] = upload.getvalue()[:256 * 1024].decode("utf-8", errors="replace")

    def check() -> None:
        ca = str(st.session_state.get(CA_TEXT) or "").strip()
        st.session_state[hook_key(connector_type, "SSL")] = True
        st.session_state[widget_key(connector_type, "hooks_params.SSL.ssl_mode")] = mode
        st.session_state[widget_key(connector_type, "hooks_params.SSL.ca")] = ca + "\n"
        st.session_state.pop(TEST_RESULT, None)
        st.session_state[RUN_TEST] = True
        st.rerun()  # the form changed (the SSL section and its fields): the whole page runs, then the test

    with st.expander("Check the server's certificate", icon=":material/verified_user:"):
        st.text_area("CA certificate (PEM)", key=CA_TEXT, height=110, placeholder="-----BEGIN CERTIFICATE-----",
                     help="The certificate of the authority that signed the server's certificate: ask the database's "
                          "administrator for it.")
        st.file_uploader("Or upload the CA certificate file", key=CA_FILE, on_change=use_upload, max_upload_size=1)
        given = "BEGIN CERTIFICATE" in str(st.session_state.get(CA_TEXT) or "")
        st.button(f"Test again, checking the certificate ({mode})", on_click=check, icon=":material/verified_user:",
                  key="verify_tls", disabled=not given, type="primary")

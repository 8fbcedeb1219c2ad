from __future__ import annotations
import streamlit as st

if __name__ == "__main__":
    st.write("hello UI")
else:
    from components.embedded import api_lifespan, api_routes
    app = st.App(__file__, routes=api_routes(), lifespan=api_lifespan)

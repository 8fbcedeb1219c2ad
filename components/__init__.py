"""Reusable parts of the Streamlit UI (the pages under ``pages/`` are short scripts that use them)."""
